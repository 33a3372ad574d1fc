//! Autoref specialisation for the error of a `#[fallible_task]` body: the expansion writes
//! `(&error).__rr_conversion().convert(error)` where the concrete error type is known, so an
//! error that implements [`Classify`] keeps its code and any other converts with
//! `Into<TaskError>`. (Inside a generic runtime function the type would be opaque and only
//! `Into` would be possible.)

use crate::error::{Classify, TaskError};

/// Converts an error that implements [`Classify`], keeping its code.
#[doc(hidden)]
pub struct ClassifiedConversion;
/// Converts any other error with `Into<TaskError>`.
#[doc(hidden)]
pub struct IntoConversion;

/// Picked first by `(&error).__rr_conversion()` when the error implements [`Classify`].
#[doc(hidden)]
pub trait ViaClassify {
    /// The conversion to use.
    fn __rr_conversion(&self) -> ClassifiedConversion {
        ClassifiedConversion
    }
}
impl<E: Classify + std::error::Error + Send + Sync + 'static> ViaClassify for E {}

/// The fallback of [`ViaClassify`] (one more autoref away).
#[doc(hidden)]
pub trait ViaInto {
    /// The conversion to use.
    fn __rr_conversion(&self) -> IntoConversion {
        IntoConversion
    }
}
impl<E: Into<TaskError>> ViaInto for &E {}

impl ClassifiedConversion {
    /// [`TaskError::classified`].
    pub fn convert<E: Classify + std::error::Error + Send + Sync + 'static>(
        self,
        error: E,
    ) -> TaskError {
        TaskError::classified(error)
    }
}

impl IntoConversion {
    /// `Into<TaskError>`.
    pub fn convert<E: Into<TaskError>>(self, error: E) -> TaskError {
        error.into()
    }
}

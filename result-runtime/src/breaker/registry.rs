//! The registry of named breakers and budgets, one per process.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::{CircuitBreaker, CircuitBreakerBuilder, RetryBudget, RetryBudgetBuilder};
use crate::ConfigError;

/// Named [`CircuitBreaker`]s and [`RetryBudget`]s, shared by every part of the process that
/// calls one dependency: the tower layer on its client, `#[fallible_task(breaker = "..")]`,
/// plain calls. Get it with [`registry()`].
///
/// Configure a name once, at startup, with [`register_breaker`](Self::register_breaker);
/// [`breaker`](Self::breaker) returns it from then on, or creates it with the defaults if
/// nobody registered it. Registering a name that is already in use (registered, or created
/// with the defaults by an earlier call) is refused rather than silently ignored, so a
/// configuration that comes too late is a startup error, not a breaker with other settings.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use result_runtime::breaker::{registry, CircuitBreaker};
///
/// let inventory = registry()
///     .register_breaker("doc-inventory", CircuitBreaker::builder().open_for(Duration::from_secs(2)))
///     .unwrap();
/// assert_eq!(inventory.name(), Some("doc-inventory"));
/// // Anywhere else in the process: the same breaker.
/// let again = registry().breaker("doc-inventory");
/// assert!(again.same_as(&inventory));
/// assert!(registry().register_breaker("doc-inventory", CircuitBreaker::builder()).is_err());
/// ```
pub struct Registry {
    breakers: Mutex<HashMap<Cow<'static, str>, CircuitBreaker>>,
    budgets: Mutex<HashMap<Cow<'static, str>, RetryBudget>>,
}

/// The process's registry of named breakers and budgets.
#[must_use]
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry { breakers: Mutex::default(), budgets: Mutex::default() })
}

fn taken(name: &str) -> ConfigError {
    ConfigError::new("name", format!("`{name}` is already registered"))
}

impl Registry {
    /// The breaker named `name`, created with the default settings on first use.
    pub fn breaker(&self, name: impl Into<Cow<'static, str>>) -> CircuitBreaker {
        let name = name.into();
        let mut map = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = map.get(&name) {
            return b.clone();
        }
        let b =
            CircuitBreaker::builder().name(name.clone()).build().expect("the defaults are valid");
        map.insert(name, b.clone());
        b
    }

    /// Builds `builder` under `name` and registers it.
    ///
    /// # Errors
    /// The builder's [`ConfigError`], or one for `name` when the name is taken.
    pub fn register_breaker(
        &self,
        name: impl Into<Cow<'static, str>>,
        builder: CircuitBreakerBuilder,
    ) -> Result<CircuitBreaker, ConfigError> {
        let name = name.into();
        let mut map = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(&name) {
            return Err(taken(&name));
        }
        let b = builder.name(name.clone()).build()?;
        map.insert(name, b.clone());
        Ok(b)
    }

    /// The budget named `name`, created with the default settings on first use.
    pub fn budget(&self, name: impl Into<Cow<'static, str>>) -> RetryBudget {
        let name = name.into();
        let mut map = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = map.get(&name) {
            return b.clone();
        }
        let b = RetryBudget::builder().name(name.clone()).build().expect("the defaults are valid");
        map.insert(name, b.clone());
        b
    }

    /// Builds `builder` under `name` and registers it.
    ///
    /// # Errors
    /// The builder's [`ConfigError`], or one for `name` when the name is taken.
    pub fn register_budget(
        &self,
        name: impl Into<Cow<'static, str>>,
        builder: RetryBudgetBuilder,
    ) -> Result<RetryBudget, ConfigError> {
        let name = name.into();
        let mut map = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(&name) {
            return Err(taken(&name));
        }
        let b = builder.name(name.clone()).build()?;
        map.insert(name, b.clone());
        Ok(b)
    }

    /// Every registered breaker, sorted by name (for a status page).
    #[must_use]
    pub fn breakers(&self) -> Vec<CircuitBreaker> {
        let map = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = map.values().cloned().collect();
        v.sort_by(|a, b| a.name().cmp(&b.name()));
        v
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.breakers()).finish()
    }
}

impl CircuitBreaker {
    /// Whether both handles share one breaker.
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

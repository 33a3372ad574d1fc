//! Generated from `proto/*.proto` by `build.rs` (protox, no system `protoc`).

/// The inventory service.
#[allow(missing_docs, clippy::pedantic)]
pub mod inventory {
    tonic::include_proto!("inventory");
}
/// The checkout service.
#[allow(missing_docs, clippy::pedantic)]
pub mod checkout {
    tonic::include_proto!("checkout");
}

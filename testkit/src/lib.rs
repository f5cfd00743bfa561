//! akari-testkit: a deterministic synthetic Japanese hospital (FHIR resources plus the
//! minimal record each patient should show) and an HTTP FHIR server serving it, with
//! fault knobs. Used by tests, benchmarks and `akari demo`; [`poll`] is how tests wait for
//! what happens in the background. Synthetic data only.

pub mod fhir_schema;
pub mod pki;
pub mod poll;
pub mod server;
pub mod synth;

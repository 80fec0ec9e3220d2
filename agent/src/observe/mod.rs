//! What operators scrape and probe: Prometheus metrics on `/metrics`,
//! liveness on `/healthz` and readiness on `/readyz`.

mod http;
mod metrics;
mod ready;

pub use http::{bind, serve};

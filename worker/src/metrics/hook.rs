//! The one hook on the request path: a local replica as the routing table holds it, with its
//! pod's live figures and its Prometheus series (by service, pod and status class) taken once
//! when the table is built. Serving a request through it costs two atomic adds and a short,
//! uncontended lock for the window; no map lookup, no allocation.

use super::pod_stats::PodStats;
use http::Response;
use std::sync::Arc;
use wasmpod_api::metrics::{Counter, Histogram};
use wasmpod_runtime::{BoxBody, HttpPod, ResponseBody};

/// The status classes requests are counted by, in the order of [`class_index`].
pub(crate) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_index(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// A replica of a service on this node, as the gateway calls it.
#[derive(Clone)]
pub struct LocalEndpoint {
    pub http: HttpPod,
    hook: Arc<RequestHook>,
}

pub(crate) struct RequestHook {
    pub(crate) stats: Arc<PodStats>,
    /// `wasmpod_requests_total` of this service and pod, one per status class.
    pub(crate) by_class: [Counter; 5],
    pub(crate) duration: Histogram,
}

impl LocalEndpoint {
    pub(crate) fn new(http: HttpPod, hook: RequestHook) -> LocalEndpoint {
        LocalEndpoint {
            http,
            hook: Arc::new(hook),
        }
    }

    /// Serves `req` on this replica, counting it.
    pub async fn handle(&self, req: http::Request<BoxBody>) -> Response<ResponseBody> {
        let in_flight = self.hook.stats.start();
        let response = self.http.handle(req).await;
        let latency = in_flight.finish();
        self.hook.by_class[class_index(response.status().as_u16())].inc();
        self.hook.duration.observe(latency);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_line_up_with_the_shared_names() {
        for status in [101u16, 200, 204, 301, 404, 500, 503, 599] {
            assert_eq!(
                CLASSES[class_index(status)],
                wasmpod_api::metrics::status_class(status)
            );
        }
    }
}

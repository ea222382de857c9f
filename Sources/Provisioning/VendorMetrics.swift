import Metrics

/// What the processor reports about vendors, through swift-metrics (Prometheus in `run`).
/// Names and labels follow Prometheus conventions; the README lists them with alerts.
enum VendorMetrics {
    /// One attempt at a vendor: how long, and how it ended (`success` or the error category).
    static func call(target: String, operation: String, outcome: String, nanoseconds: Int64) {
        Timer(
            label: "provisioner_vendor_call_duration_seconds",
            dimensions: [("target", target), ("operation", operation), ("outcome", outcome)],
            preferredDisplayUnit: .seconds
        ).recordNanoseconds(nanoseconds)
    }

    /// A transient failure that will be tried again.
    static func retry(target: String) {
        Counter(label: "provisioner_retries_total", dimensions: [("target", target)]).increment()
    }

    /// 0 closed, 1 half-open (one probe out), 2 open.
    static func breaker(target: String, state: TargetGuards.BreakerState) {
        let value: Int64 = switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
        Gauge(label: "provisioner_circuit_breaker_state", dimensions: [("target", target)]).record(value)
    }
}

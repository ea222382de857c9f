import Metrics
import ProvisioningContract

/// What the processor reports about vendors, through swift-metrics (Prometheus in `run`).
/// Names and labels follow Prometheus conventions; the README lists them with alerts.
enum VendorMetrics {
    /// A configured target's series that exist before its first call, at zero (see
    /// `WorkerMetrics.prepare`): its retries, its breaker as closed, and the duration of a
    /// successful call of each operation (the alerts divide retries by calls, per target).
    static func prepare(target: String) {
        _ = retries(target)
        breaker(target: target, state: .closed)
        for operation in ProvisioningContract.Operation.allCases { _ = calls(target, operation.rawValue, "success") }
    }

    /// One attempt at a vendor: how long, and how it ended (`success` or the error category).
    static func call(target: String, operation: String, outcome: String, duration: Duration) {
        calls(target, operation, outcome).record(duration)
    }

    private static let calls = MetricHandles { values in
        Timer(
            label: "provisioner_vendor_call_duration_seconds",
            dimensions: [("target", values[0]), ("operation", values[1]), ("outcome", values[2])], preferredDisplayUnit: .seconds
        )
    }

    /// A transient failure that will be tried again.
    static func retry(target: String) {
        retries(target).increment()
    }

    private static let retries = MetricHandles { Counter(label: "provisioner_retries_total", dimensions: [("target", $0[0])]) }

    /// 0 closed, 1 half-open (one probe out), 2 open.
    static func breaker(target: String, state: TargetGuards.BreakerState) {
        let value: Int64 =
            switch state {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        breakers(target).record(value)
    }

    private static let breakers = MetricHandles { Gauge(label: "provisioner_circuit_breaker_state", dimensions: [("target", $0[0])]) }
}

extension Timer {
    /// swift-metrics records whole nanoseconds; clocks hand out `Duration`s.
    public func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Duration {
    /// Whole milliseconds, the fraction dropped toward zero, saturating at `Int64`'s bounds
    /// rather than trapping. The one conversion the provisioning modules use for configured
    /// durations, log fields and Kafka timestamps. (The Kafka module, which does not depend on
    /// this one, derives librdkafka's `Int32` timeouts from the same formula.)
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowAgain) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if overflowAgain { return seconds < 0 ? .min : .max }
        return total
    }
}

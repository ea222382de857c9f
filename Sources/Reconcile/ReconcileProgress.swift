/// Told how far a reconcile has read, for a terminal's progress line. Called from the task that
/// runs the reconcile, one call at a time.
public protocol ReconcileProgress {
    /// A new phase: `label` (a topic, or "re-publishing") with `records` to go through.
    func start(_ label: String, records: Int64)
    /// One more record of the phase.
    func advance()
    /// Everything read.
    func done()
}

/// No progress shown.
public struct SilentProgress: ReconcileProgress {
    public init() {}
    public func start(_ label: String, records: Int64) {}
    public func advance() {}
    public func done() {}
}

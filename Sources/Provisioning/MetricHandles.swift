import Synchronization

/// swift-metrics handles made once per set of label values. Making a handle asks the backend
/// for it (a lock, and the label and every dimension hashed) each time; commands report a few
/// metrics each, with few distinct label values, so a lookup here is all they pay.
public final class MetricHandles<Handle: Sendable>: Sendable {
    private let handles = Mutex<[[String]: Handle]>([:])
    private let make: @Sendable ([String]) -> Handle

    /// `make` builds the handle for label values given in a fixed order.
    public init(_ make: @escaping @Sendable ([String]) -> Handle) {
        self.make = make
    }

    public func callAsFunction(_ values: String...) -> Handle {
        if let handle = handles.withLock({ $0[values] }) { return handle }
        let handle = make(values)
        return handles.withLock { handles in
            if let existing = handles[values] { return existing }
            handles[values] = handle
            return handle
        }
    }
}

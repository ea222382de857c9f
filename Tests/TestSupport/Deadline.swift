import Synchronization

/// Fails with a timeout instead of hanging when something never arrives.
public func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let work = Task { try await body() }
    let expired = Atomic<Bool>(false)
    let alarm = Task {
        try await Task.sleep(for: .seconds(seconds))
        expired.store(true, ordering: .releasing)
        work.cancel()
    }
    defer { alarm.cancel() }
    let value = try await work.value
    // A cancelled reader may end its loop normally: the deadline still failed.
    if expired.load(ordering: .acquiring) { throw DeadlineExceeded(seconds: seconds) }
    return value
}

public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let seconds: Double
    public var description: String { "not done within \(seconds) s" }
}

import Foundation

/// Runs a blocking call (reading a pipe, waiting for a process) on a thread of its own. On the
/// cooperative pool (`Task.detached` included) it would hold one of its threads, which number
/// the cores: on two cores one subprocess waited for starves every other test's tasks.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

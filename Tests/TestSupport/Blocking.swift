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

/// Runs `/usr/bin/env arguments...` to its end (on a thread of its own); its exit status and
/// standard output and error together.
public func runToEnd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await onOwnThread { () throws -> (Int32, String) in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

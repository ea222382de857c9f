import CSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A subprocess that inherits nothing but its three standard streams, and whose every wait and
/// read has a deadline.
///
/// Why not `Foundation.Process`: on Linux it lists the descriptors to close in the child before
/// it spawns. A pipe or termination socket that a concurrent spawn opens in between leaks into
/// that child. The tests spawn from many tasks at once, and both consequences were seen in soak
/// runs: `kcat -P` waited forever for the end of its input (a worker spawned beside it held the
/// input's write end), and a finished `provisioner send` stayed a zombie that `waitUntilExit()`
/// never noticed (its termination socket lived on in another child). Here the parent's ends are
/// close-on-exec from birth and the child closes every descriptor above 2 as it starts, so no
/// spawn can leak into another. (swift-subprocess spawns as safely, but scopes a child to one
/// closure; these tests keep workers running across many steps.)
public final class ChildProcess: Sendable {
    public enum Input: Sendable {
        case null
        /// Written with `write(_:)` and ended with `closeInput()`.
        case pipe
    }

    public enum Output: Sendable {
        case null
        /// Read with `readLine()` or `readToEnd()`.
        case pipe
        /// Appended to this file (a pipe nobody reads fills up at 64 KiB and blocks the child).
        case file(String)
        /// Standard error only: into the same place as standard output.
        case standardOutput
    }

    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exit(Int32)
        case signal(Int32)
        public var description: String {
            switch self {
            case .exit(let status): "exit \(status)"
            case .signal(let signal): "signal \(signal)"
            }
        }
    }

    public let pid: pid_t
    public let command: String
    private let inputFD: Int32?
    private let outputFD: Int32?
    private let errorFD: Int32?
    private let state = Mutex(State())

    private struct State {
        var termination: Termination?
        var waiting: [CheckedContinuation<Termination, Never>] = []
        var inputClosed = false
        var outputBuffer: [UInt8] = []
    }

    /// Writing to a child's closed input must fail with EPIPE, not end the test process.
    private static let pipeSignalIgnored: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Starts `executable` (an absolute path) with `arguments`; `environment` is merged over this
    /// process's own.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        input: Input = .null, output: Output = .pipe, error: Output = .standardOutput
    ) throws(ChildProcessError) {
        Self.pipeSignalIgnored
        command = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEnds: [Int32] = []
        var parentEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        func pipeEnds() throws(ChildProcessError) -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe2(&fds, O_CLOEXEC) == 0 else { throw ChildProcessError("pipe2: errno \(errno)") }
            return (fds[0], fds[1])
        }
        func plumb(_ output: Output, to fd: Int32) throws(ChildProcessError) -> Int32? {
            switch output {
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
                return nil
            case .pipe:
                let ends = try pipeEnds()
                childEnds.append(ends.write)
                parentEnds.append(ends.read)
                posix_spawn_file_actions_adddup2(&actions, ends.write, fd)
                return ends.read
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                return nil
            case .standardOutput:
                posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, fd)
                return nil
            }
        }
        do {
            switch input {
            case .null:
                posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
                inputFD = nil
            case .pipe:
                let ends = try pipeEnds()
                childEnds.append(ends.read)
                parentEnds.append(ends.write)
                posix_spawn_file_actions_adddup2(&actions, ends.read, STDIN_FILENO)
                inputFD = ends.write
            }
            outputFD = try plumb(output, to: STDOUT_FILENO)
            errorFD = try plumb(error, to: STDERR_FILENO)
        } catch {
            for fd in parentEnds { close(fd) }
            throw error
        }
        // Last: nothing of this process but the three streams reaches the child.
        posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, as Foundation.Process does: a Ctrl-C at the terminal running the
        // tests reaches the test process only, which then stops its children in order.
        // SIGPIPE, which this process ignores, is at its default again in the child.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for variable in envp { free(variable) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            for fd in parentEnds { close(fd) }
            throw ChildProcessError("cannot start \(executable): errno \(status)")
        }
        self.pid = pid
        let child = pid
        // The one reaper of this child: it waits on a thread of its own, since a blocking wait
        // on the cooperative pool would hold one of its (two) threads. It keeps this object
        // (and its descriptors) alive until the child has ended.
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            let termination: Termination = (status & 0x7f) == 0 ? .exit((status >> 8) & 0xff) : .signal(status & 0x7f)
            let waiting = state.withLock { state in
                state.termination = termination
                defer { state.waiting = [] }
                return state.waiting
            }
            for waiter in waiting { waiter.resume(returning: termination) }
        }
    }

    deinit {
        // Exactly once per descriptor: a second close could hit a number reused by another child.
        let inputOpen = !state.withLock { $0.inputClosed }
        for fd in [inputOpen ? inputFD : nil, outputFD, errorFD].compactMap({ $0 }) { close(fd) }
    }

    /// How the child ended, once it has.
    public var termination: Termination? { state.withLock { $0.termination } }

    /// Waits for the child to end. Past `limit` it is killed and this throws: a test that hangs
    /// on a child tells which one instead of running into CI's time limit. `beforeKill` runs
    /// first, while the child still hangs (to record where).
    @discardableResult
    public func wait(
        upTo limit: Duration = .seconds(300), beforeKill: (@Sendable () async -> Void)? = nil
    ) async throws(ChildProcessError) -> Termination {
        let ended = await withTaskGroup(of: Termination?.self) { group in
            group.addTask { await self.ended() }
            group.addTask {
                guard (try? await Task.sleep(for: limit)) != nil else { return nil }
                await beforeKill?()
                self.send(SIGKILL)
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        guard let ended else {
            await self.ended()
            throw ChildProcessError("\(command) did not end within \(limit); killed")
        }
        return ended
    }

    @discardableResult
    private func ended() async -> Termination {
        await withCheckedContinuation { continuation in
            let ended = state.withLock { state in
                if state.termination == nil { state.waiting.append(continuation) }
                return state.termination
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }

    private static let gdb = "/usr/bin/gdb"
    public static let gdbInstalled = FileManager.default.isExecutableFile(atPath: gdb)

    /// Every thread's stack, as gdb prints it, into `path`: what a hung child waits for. gdb's
    /// own errors (a refused attach, say) go to `path.gdb`. Best effort, bounded: gdb gets 60 s.
    public func writeStacks(to path: String) async {
        // Not once it has ended: its pid may be another process's by now.
        guard Self.gdbInstalled, termination == nil else { return }
        let arguments = ["-p", "\(pid)", "-batch", "-nx", "-ex", "thread apply all bt"]
        guard let gdb = try? ChildProcess(Self.gdb, arguments, output: .file(path), error: .file(path + ".gdb")) else { return }
        // A cancelled wait would not time gdb out: it is killed instead.
        await withTaskCancellationHandler {
            _ = try? await gdb.wait(upTo: .seconds(60))
        } onCancel: {
            gdb.send(SIGKILL)
        }
    }

    /// Sends `signal`, unless the child has been reaped (its pid may belong to another process).
    public func send(_ signal: Int32) {
        state.withLock { state in
            if state.termination == nil { _ = kill(pid, signal) }
        }
    }

    /// Writes `text` to the child's standard input (a `.pipe`).
    public func write(_ text: String) throws(ChildProcessError) {
        guard let inputFD else { throw ChildProcessError("\(command): standard input is not a pipe") }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(inputFD, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw ChildProcessError("\(command): writing its input: errno \(errno)")
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Ends the child's standard input: it reads end of file.
    public func closeInput() {
        guard let inputFD else { return }
        let first = state.withLock { state in
            defer { state.inputClosed = true }
            return !state.inputClosed
        }
        if first { close(inputFD) }
    }

    /// The next line of standard output (without its newline); nil at its end.
    public func readLine(upTo limit: Duration = .seconds(300)) async throws(ChildProcessError) -> String? {
        guard let outputFD else { throw ChildProcessError("\(command): standard output is not a pipe") }
        let deadline = ContinuousClock.now + limit
        while true {
            let line: String?? = state.withLock { state in
                guard let newline = state.outputBuffer.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
                defer { state.outputBuffer.removeSubrange(...newline) }
                return .some(String(decoding: state.outputBuffer[..<newline], as: UTF8.self))
            }
            if let line { return line }
            let chunk = try await Self.read(outputFD, until: deadline, command: command)
            if chunk.isEmpty {
                return state.withLock { state in
                    defer { state.outputBuffer = [] }
                    return state.outputBuffer.isEmpty ? nil : String(decoding: state.outputBuffer, as: UTF8.self)
                }
            }
            state.withLock { $0.outputBuffer += chunk }
        }
    }

    /// Everything left on standard output, to its end (all its writers closed).
    public func readToEnd(upTo limit: Duration = .seconds(300)) async throws(ChildProcessError) -> String {
        guard let outputFD else { throw ChildProcessError("\(command): standard output is not a pipe") }
        return try await Self.readToEnd(
            outputFD,
            prefix: state.withLock { state in
                defer { state.outputBuffer = [] }
                return state.outputBuffer
            }, until: ContinuousClock.now + limit, command: command)
    }

    /// Everything on standard error (a `.pipe`), to its end.
    public func readErrorsToEnd(upTo limit: Duration = .seconds(300)) async throws(ChildProcessError) -> String {
        guard let errorFD else { throw ChildProcessError("\(command): standard error is not a pipe") }
        return try await Self.readToEnd(errorFD, prefix: [], until: ContinuousClock.now + limit, command: command)
    }

    private static func readToEnd(
        _ fd: Int32, prefix: [UInt8], until deadline: ContinuousClock.Instant, command: String
    ) async throws(ChildProcessError) -> String {
        var bytes = prefix
        while true {
            let chunk = try await read(fd, until: deadline, command: command)
            if chunk.isEmpty { return String(decoding: bytes, as: UTF8.self) }
            bytes += chunk
        }
    }

    /// One read of what is there (empty at end of file), on a thread of its own, waiting no
    /// longer than `deadline`.
    private static func read(_ fd: Int32, until deadline: ContinuousClock.Instant, command: String) async throws(ChildProcessError) -> [UInt8] {
        let result: Result<[UInt8], ChildProcessError> = await onOwnThread {
            while true {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { return .failure(ChildProcessError("\(command): no output end within its deadline")) }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let milliseconds = Int32(min(left.components.seconds * 1000 + 1, 60_000))
                let ready = poll(&poller, 1, milliseconds)
                if ready < 0 && errno != EINTR { return .failure(ChildProcessError("\(command): poll errno \(errno)")) }
                guard ready > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 65_536)
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return .failure(ChildProcessError("\(command): read errno \(errno)"))
                }
                return .success(Array(buffer[..<count]))
            }
        }
        return try result.get()
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `/usr/bin/env arguments...` to its end; its termination and standard output and error
/// together.
public func runToEnd(_ arguments: [String], upTo limit: Duration = .seconds(300)) async throws -> (status: Int32, output: String) {
    let child = try ChildProcess("/usr/bin/env", arguments)
    let output = try await child.readToEnd(upTo: limit)
    switch try await child.wait(upTo: limit) {
    case .exit(let status): return (status, output)
    case .signal(let signal): return (128 + signal, output)
    }
}

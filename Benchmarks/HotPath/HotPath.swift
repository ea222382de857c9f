import AsyncHTTPClient
import Benchmark
import Foundation
import Kafka
import Logging
import Observability
import Provisioning
import ProvisioningContract
import Tracing
import VendorAdapters
import Worker

/// One command's hot path, a step at a time, one operation per iteration: wall time and
/// allocations (`scripts/microbench`; docs/benchmarks.md). Everything a step needs is made
/// before its measurement starts, so that the allocation counts are the step's own and stable.
let benchmarks: @Sendable () -> Void = {
    // No `cpuTotal`: on Linux package-benchmark reads it from /proc/self/stat in 10 ms ticks,
    // and reading it allocates (16 mallocs an iteration, which would swamp the steps' own). The
    // log line's CPU, its writer thread's included, is measured (CLOCK_PROCESS_CPUTIME_ID) over
    // a thousand lines instead.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .mallocBytesCount],
        timeUnits: .nanoseconds,
        warmupIterations: 100,
        maxDuration: .seconds(2),
        maxIterations: 200_000,
        // The allocation counts hold the line: one more allocation is a regression
        // (`scripts/microbench baseline check NAME`). Wall time on these shared two cores moves
        // by half between runs (other builds, frequency), so only a large change fails.
        thresholds: [
            .mallocCountTotal: .init(absolute: [.p50: 0, .p90: 0]),
            .mallocBytesCount: .init(relative: [.p50: 5]),
            .wallClock: .init(relative: [.p25: 60]),
        ]
    )

    let command = Fixture.command

    Benchmark("decode a command") { benchmark in
        let value = Fixture.commandBytes
        benchmark.startMeasurement()
        blackHole(CommandDecoder.decode(value))
    }

    Benchmark("plan a TECS request") { benchmark in
        let adapter = Fixture.adapter
        let target = Fixture.target
        benchmark.startMeasurement()
        blackHole(adapter.plan(command, for: target))
    }

    Benchmark("encode a reply with its headers") { benchmark in
        let reply = Fixture.reply
        benchmark.startMeasurement()
        blackHole(try? reply.encoded())
        blackHole(reply.headers())
    }

    Benchmark("log line (command succeeded, JSON, info)") { benchmark in
        let reply = Fixture.reply
        let logger = Fixture.logger
        ServiceContext.withValue(Fixture.traceContext) {
            benchmark.startMeasurement()
            Fixture.logFinished(reply, logger: logger)
            benchmark.stopMeasurement()
        }
    }

    // CPU per log line of the whole process, the writer thread's included, and the writer's
    // wake-ups: a thousand lines at a time, then a flush.
    Benchmark(
        "log line x1000, process CPU and writer wake-ups",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, Fixture.processCPU, Fixture.wakeUps, Fixture.writerWakeUps],
            scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 2_000,
            thresholds: [
                .mallocCountTotal: .init(absolute: [.p50: 0]), .wallClock: .init(relative: [.p25: 60]),
                Fixture.processCPU: .init(relative: [.p25: 60]), Fixture.wakeUps: .init(absolute: [.p50: 20]),
                Fixture.writerWakeUps: .init(absolute: [.p50: 20]),
            ]
        )
    ) { benchmark in
        let reply = Fixture.reply
        let logger = Fixture.logger
        let output = Fixture.output
        ServiceContext.withValue(Fixture.traceContext) {
            output.flush()
            let (wakeUps, writerWakeUps) = (output.wakeUps, output.writerWakeUps)
            benchmark.startMeasurement()
            let started = Fixture.processCPUNanoseconds()
            for _ in benchmark.scaledIterations {
                Fixture.logFinished(reply, logger: logger)
            }
            output.flush()
            let cpu = Fixture.processCPUNanoseconds() - started
            benchmark.stopMeasurement()
            benchmark.measurement(Fixture.processCPU, cpu)
            benchmark.measurement(Fixture.wakeUps, output.wakeUps - wakeUps)
            benchmark.measurement(Fixture.writerWakeUps, output.writerWakeUps - writerWakeUps)
        }
    }

    // Lines 100 µs apart (a worker at 10,000 commands a second), with the writer's wake-ups:
    // those a line causes (a futex wake on the logging thread) and all of the writer's.
    Benchmark(
        "log line x1000, 100 us apart: wake-ups",
        configuration: .init(metrics: [Fixture.wakeUps, Fixture.writerWakeUps], maxDuration: .seconds(3), maxIterations: 30, thresholds: [:])
    ) { benchmark in
        let reply = Fixture.reply
        let logger = Fixture.logger
        let output = Fixture.output
        ServiceContext.withValue(Fixture.traceContext) {
            output.flush()
            let (wakeUps, writerWakeUps) = (output.wakeUps, output.writerWakeUps)
            benchmark.startMeasurement()
            for _ in 0..<1000 {
                let next = ContinuousClock.now + .microseconds(100)
                Fixture.logFinished(reply, logger: logger)
                while ContinuousClock.now < next {}
            }
            output.flush()
            benchmark.stopMeasurement()
            benchmark.measurement(Fixture.wakeUps, output.wakeUps - wakeUps)
            benchmark.measurement(Fixture.writerWakeUps, output.writerWakeUps - writerWakeUps)
        }
    }

    Benchmark("state machine round (received, handed off, acknowledged, committed)") { benchmark in
        let round = Fixture.machine
        let job = round.nextJob()
        benchmark.startMeasurement()
        blackHole(round.run(job))
    }

    Benchmark("span (start, two attributes, end)") { benchmark in
        let tracer = Fixture.tracer
        benchmark.startMeasurement()
        let span = tracer.startAnySpan("provisioning.command", context: .topLevel, ofKind: .consumer)
        span.attributes["provisioning.status"] = "succeeded"
        span.attributes["provisioning.target"] = "tecs-test"
        span.end()
    }
}

/// What the benchmarks share, made once.
enum Fixture {
    /// A TECS `createUser` as `provisioner-bench` sends it (Benchmarks/ProvisionerBench/Scenario.swift).
    static let commandBytes = Array(
        (#"{"commandId":"bench-17","target":"tecs-test","operation":"createUser","dryRun":false,"#
            + #""user":{"userName":"bench17","email":"bench17@example.com","givenName":"Bench","familyName":"User17","displayName":"Bench 17","password":"Bench-Pa55-17"}}"#)
            .utf8)

    static let command: ProvisioningCommand = {
        guard case .success(let command) = CommandDecoder.decode(commandBytes) else { fatalError("the fixture command does not decode") }
        return command
    }()

    static let target = ProvisioningTarget(
        name: "tecs-test", vendor: .tecs, baseURL: "http://127.0.0.1:9000/tecs",
        credentials: ["username": Secret("tecs-user"), "password": Secret("tecs-password")]
    )

    /// The adapter never sends anything here: `plan` only maps.
    static let adapter = TECSAdapter(http: VendorHTTPClient(client: HTTPClient.shared, logger: Logger(label: "provisioner.vendor")))

    static let reply: ProvisioningReply = {
        let received = Date()
        return ProvisioningReply(
            commandId: "bench-17", correlationId: "onboarding-4711", target: "tecs-test", vendor: "tecs", operation: "createUser",
            status: .succeeded, vendorUserId: "7f0c2a9e-52d1-4c8b-9a61-3f1f0d2b8e11",
            vendorResponse: VendorResponse(httpStatus: 200, code: "0", message: "OK"), attempts: 1, dryRun: false,
            receivedAt: received, completedAt: received.addingTimeInterval(0.012345), worker: "bench-host/4242"
        )
    }()

    /// Where the log lines go: `/dev/null` through the production `LogOutput` (its writer thread).
    static let output = LogOutput(descriptor: open("/dev/null", O_WRONLY))

    /// The worker's logger as `provisioner run` bootstraps it (Sources/provisioner/Provisioner.swift).
    static let logger: Logger = {
        let provider = Logger.MetadataProvider.multiplex([.command, .traceContext])
        return Logger(label: "provisioner.worker") { label in
            StructuredLogHandler(label: label, format: .json, level: .info, metadataProvider: provider, output: output)
        }
    }()

    /// The command span's context, which the trace-context metadata provider reads.
    static let traceContext: ServiceContext = {
        var context = ServiceContext.topLevel
        TraceContextTracer().extract(
            ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"], into: &context, using: DictionaryExtractor())
        return TraceContextTracer().startSpan("provisioning.command", context: context, ofKind: .consumer).context
    }()

    static let tracer: any Tracer = TraceContextTracer()

    /// `ProvisioningWorker.logFinished` for a success, as it is written there.
    @inline(never)
    static func logFinished(_ reply: ProvisioningReply, logger: Logger) {
        guard logger.logLevel <= .info else { return }
        var metadata = CommandIdentity(reply).metadata
        metadata["status"] = "\(reply.status.rawValue)"
        metadata["attempts"] = "\(reply.attempts)"
        metadata["durationMs"] = "\(reply.durationMs)"
        if let vendorUserId = reply.vendorUserId { metadata["vendorUserId"] = "\(vendorUserId)" }
        logger.log(level: .info, "command succeeded", metadata: metadata)
    }

    static let processCPU = BenchmarkMetric.custom("process CPU (ns)", polarity: .prefersSmaller, useScalingFactor: true)
    /// Per thousand lines, unscaled (a scaled count per line would round to 0 or 1).
    static let wakeUps = BenchmarkMetric.custom("wake-ups by a line per 1000", polarity: .prefersSmaller, useScalingFactor: false)
    static let writerWakeUps = BenchmarkMetric.custom("writer wake-ups per 1000", polarity: .prefersSmaller, useScalingFactor: false)

    static func processCPUNanoseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return time.tv_sec * 1_000_000_000 + time.tv_nsec
    }

    static let machine = MachineRound()
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// A worker state machine with one partition assigned, fed one command per round.
final class MachineRound: @unchecked Sendable {
    private var machine: WorkerStateMachine
    private var offset: Int64 = 0
    private let partition = KafkaTopicPartition(topic: "provisioning.commands", partition: 0)
    private let key = Array("tecs-test:bench17".utf8)
    private let value = Fixture.commandBytes
    private let received = Date()

    init() {
        var settings = WorkerSettings(repliesTopic: "provisioning.replies", deadLettersTopic: "provisioning.dlq", groupId: "bench", workerId: "bench")
        settings.maxInFlight = 256
        machine = WorkerStateMachine(limits: settings.limits)
        machine.assigned([partition], starts: [partition: 0])
    }

    /// The next record's job, made outside the measurement.
    func nextJob() -> Job {
        defer { offset += 1 }
        let message = KafkaConsumerMessage(
            topic: partition.topic, partition: partition.partition, offset: offset, key: key, value: value, headers: [], timestampMilliseconds: nil)
        return Job(message: message, key: "tecs-test:bench17", receivedAt: received)
    }

    /// received → start → handed off → acknowledged → offsets taken → committed; the committed offset.
    @inline(never)
    func run(_ job: Job) -> Int64 {
        var started: Job?
        for action in machine.received(job) {
            if case .start(let job) = action { started = job }
        }
        guard let started else { fatalError("the job did not start") }
        blackHole(machine.handedOff(started))
        blackHole(machine.acknowledged(started))
        let offsets = machine.takeCommits(nil)
        blackHole(machine.committed(offsets))
        return offsets.first?.offset ?? -1
    }
}

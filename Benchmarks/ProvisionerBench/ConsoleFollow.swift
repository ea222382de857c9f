import ArgumentParser
import AsyncHTTPClient
import Foundation
import Kafka
import NIOCore
import ProvisioningContract

/// `provisioner-bench console`: whether `provisioner console` keeps up with the replies topic.
/// Replies are written at a steady rate while the console's own count of what it has read is
/// sampled; then a second console reads the whole topic as a backlog, for its top rate. Memory
/// is the console's peak RSS with its default windows, which the topic outgrows many times.
struct ConsoleFollow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Measure how fast the operator console follows the replies topic, and its memory.")

    @Option(help: "Replies written per second.")
    var rate = 2000

    @Option(help: "Seconds of writing.")
    var seconds = 60

    func run() async throws {
        try await withKafkaClients { clients in
            let binaries = try Binaries.locate()
            // 24 partitions: the embedded broker keeps about 5 MB a partition, and a minute of replies
            // at 2,000/s is about 70 MB.
            let broker = try Child(binaries.provisioner, ["broker", "--brokers", "1", "--partitions", "24"])
            defer { broker.stop() }
            let bootstrap = try await broker.firstLine()
            let config = try Self.configFile(bootstrap: bootstrap)
            let total = rate * seconds

            let live = try await FollowingConsole(binaries: binaries, config: config)
            defer { live.child.stop() }
            let producer = clients.run(
                try KafkaProducer(
                    configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, properties: ["linger.ms": "5"]), logger: quietLogger))
            // One reply first, so that the measurement starts once the console is reading (not while
            // it joins its group); it counts in everything the console reads after.
            try await Scenario.enqueue(producer, Self.reply(total))
            try await producer.flush()
            _ = try await live.waitFor(1)
            Scenario.stage("writing \(total) replies at \(rate)/s")
            let cpuBefore = live.child.cpuSeconds
            let started = ContinuousClock.now
            var written = 0
            var samples: [(second: Double, lag: Int)] = []
            var nextSample = started
            // Ticks of 10 ms: each writes what the rate owes by then.
            while written < total {
                let now = ContinuousClock.now
                let due = min(total, Int(Double(rate) * (now - started).seconds) + rate / 100)
                while written < due {
                    try await Scenario.enqueue(producer, Self.reply(written))
                    written += 1
                }
                if now >= nextSample {
                    samples.append(((now - started).seconds, written + 1 - (try await live.seen())))
                    nextSample = now + .milliseconds(500)
                }
                try await Task.sleep(until: now + .milliseconds(10))
            }
            try await producer.flush()
            let writtenIn = (ContinuousClock.now - started).seconds
            let caughtUp = try await live.waitFor(total + 1)
            let liveCPU = live.child.cpuSeconds - cpuBefore
            let livePeak = live.child.peakRSSMegabytes
            await clients.stop(producer)

            Scenario.stage("a second console reads the \(total) as a backlog")
            let backlog = try await FollowingConsole(binaries: binaries, config: config)
            defer { backlog.child.stop() }
            // Timed from its first reply read: joining the group is not reading.
            _ = try await backlog.waitFor(1)
            let backlogSeconds = try await backlog.waitFor(total + 1)

            let lags = samples.map(\.lag)
            let steady = samples.filter { $0.second >= 5 }.map(\.lag)
            print(
                String(
                    format: """
                        console following replies written at %d/s for %d s (%d replies, written in %.1f s; windows at their defaults: 20,000 replies, 20,000 commands, 10,000 dead letters):
                          behind the topic: at most %d replies, %d after the first 5 s, mean %.0f (sampled every 0.5 s)
                          caught up %.2f s after the last reply was written
                          CPU %.2f s (%.1f µs per reply), peak RSS %.0f MB
                          a second console read the %d as a backlog in %.1f s: %.0f replies/s, peak RSS %.0f MB

                        """,
                    rate, seconds, total, writtenIn, lags.max() ?? 0, steady.max() ?? 0, Double(lags.reduce(0, +)) / Double(max(1, lags.count)),
                    caughtUp, liveCPU, 1_000_000 * liveCPU / Double(total), livePeak,
                    total, backlogSeconds, Double(total) / backlogSeconds, backlog.child.peakRSSMegabytes))
        }
    }

    /// A reply as a worker writes it (contract section 4), one command each, a tenth failed.
    static func reply(_ index: Int) -> KafkaProducerMessage {
        let now = Timestamp.format(Date())
        let failed = index % 10 == 9
        let outcome =
            failed
            ? #""status":"failed","vendorUserId":null,"data":null,"error":{"category":"conflict","code":"24006","message":"User already exists","retryable":false},"vendorResponse":{"httpStatus":200,"code":"24006","message":"User already exists"}"#
            : #""status":"succeeded","vendorUserId":"u-\#(index)","data":null,"vendorResponse":{"httpStatus":200,"code":"0","message":"OK"}"#
        let value =
            #"{"schema":"provisioning.reply/v1","commandId":"follow-\#(index)","correlationId":"order-\#(index)","target":"tecs-test","vendor":"tecs","operation":"createUser",\#(outcome),"attempts":1,"dryRun":false,"receivedAt":"\#(now)","completedAt":"\#(now)","durationMs":\#(20 + index % 180).5,"worker":"bench/1"}"#
        return KafkaProducerMessage(
            topic: "provisioning.replies", key: "tecs-test:follow\(index)", value: value,
            headers: [KafkaHeader(key: "commandId", value: "follow-\(index)"), KafkaHeader(key: "status", value: failed ? "failed" : "succeeded")])
    }

    static func configFile(bootstrap: String) throws -> String {
        let yaml = """
            kafka: { bootstrapServers: "\(bootstrap)", groupId: bench-console }
            console: { port: 0, auth: { username: bench, password: bench-console-pass } }
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-console-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// A `provisioner console` child and its count of replies read (`seen` of `/api/replies`).
struct FollowingConsole {
    let child: Child
    let url: String

    init(binaries: Binaries, config: String) async throws {
        child = try Child(binaries.provisioner, ["console", "--config", config], environment: ["LOG_LEVEL": "warning"])
        let line = try await child.firstLine()
        guard let url = line.split(separator: " ").last else { throw BenchError("no URL from the console: '\(line)'") }
        self.url = String(url)
    }

    func seen() async throws -> Int {
        var request = HTTPClientRequest(url: url + "api/replies?window=10")
        request.headers.add(name: "Authorization", value: "Basic " + Data("bench:bench-console-pass".utf8).base64EncodedString())
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok, let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let seen = object["seen"] as? Int
        else { throw BenchError("the console answered \(response.status) without a count") }
        return seen
    }

    /// Seconds until the console has read `count` replies.
    func waitFor(_ count: Int, timeout: Duration = .seconds(600)) async throws -> Double {
        let started = ContinuousClock.now
        while try await seen() < count {
            guard ContinuousClock.now - started < timeout else { throw BenchError("the console read fewer than \(count) replies in \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (ContinuousClock.now - started).seconds
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

import Kafka
import ProvisioningContract
import Synchronization

/// The fault-injection API of an embedded cluster (contract section 9), apart from HTTP: each
/// call is a method, a path and a JSON body in, a status and a JSON body out.
///
/// For local testing and chaos runs only: it takes brokers off the network at anyone's request,
/// so it is served on loopback and must never front a production broker.
public final class BrokerControl: Sendable {
    /// What a call answers; a refused call throws its answer.
    public struct Answer: Error, Sendable, Equatable {
        public var status: Int
        public var body: JSONValue

        static func badRequest(_ field: String, _ message: String) -> Answer {
            Answer(status: 400, body: .object(["error": .string(message), "field": .string(field)]))
        }

        static func notFound(_ message: String) -> Answer {
            Answer(status: 404, body: .object(["error": .string(message)]))
        }

        static func failed(_ error: KafkaError) -> Answer {
            Answer(status: 500, body: .object(["error": .string("\(error)")]))
        }
    }

    private struct Coordinator: Hashable, Comparable {
        var type: String
        var key: String
        static func < (a: Coordinator, b: Coordinator) -> Bool { (a.type, a.key) < (b.type, b.key) }
    }

    /// What the cluster cannot be asked: each broker's link and added round-trip time, and the
    /// leaders and coordinators moved through this API.
    private struct State {
        var down: Set<Int32> = []
        var rttMs: [Int32: Int64] = [:]
        var leaderMoves: [String: [Int32: Int32]] = [:]
        var coordinators: [Coordinator: Int32] = [:]
    }

    private let cluster: EmbeddedKafkaCluster
    private let partitions: [String: Int]
    private let state = Mutex(State())
    /// The longest round-trip time accepted: longer ones only make every client time out.
    static let maximumRTTMs: Int64 = 60_000

    public init(cluster: EmbeddedKafkaCluster, topics: [String: Int]) {
        self.cluster = cluster
        self.partitions = topics
    }

    /// `path` is the request path without its query, split at `/`; `body` is empty when none.
    public func handle(method: String, path: [Substring], body: [UInt8]) -> Answer {
        do throws(Answer) {
            switch (method, path.count, path.first) {
            case ("GET", 1, "state"): break
            case ("POST", 3, "brokers"): try broker(path[1], path[2], body)
            case ("POST", 1, "errors"): try errors(body)
            case ("POST", 4, "partitions") where path[3] == "leader": try leader(topic: String(path[1]), partition: path[2], body)
            case ("POST", 1, "coordinator"): try coordinator(body)
            default: throw .notFound("no such call: \(method) /\(path.joined(separator: "/"))")
            }
            return currentState()
        } catch {
            return error
        }
    }

    // MARK: Calls

    private func broker(_ text: Substring, _ action: Substring, _ body: [UInt8]) throws(Answer) {
        guard ["down", "up", "rtt"].contains(action) else { throw .notFound("no such call: POST /brokers/\(text)/\(action)") }
        guard let id = Int32(text) else { throw .badRequest("id", "a broker id is a number, from 1") }
        try known(id)
        var rtt: Int64?
        if action == "rtt" {
            guard case .integer(let ms)? = try Self.object(body)["ms"], (0...Self.maximumRTTMs).contains(ms) else {
                throw .badRequest("ms", "ms is the added round-trip time in milliseconds, 0 to \(Self.maximumRTTMs)")
            }
            rtt = ms
        }
        do throws(KafkaError) {
            if let rtt {
                try cluster.setRoundTripTime(.milliseconds(rtt), broker: id)
                state.withLock { $0.rttMs[id] = rtt }
            } else if action == "down" {
                try cluster.setBrokerDown(id)
                state.withLock { _ = $0.down.insert(id) }
            } else {
                try cluster.setBrokerUp(id)
                state.withLock { _ = $0.down.remove(id) }
            }
        } catch {
            throw .failed(error)
        }
    }

    private func errors(_ body: [UInt8]) throws(Answer) {
        let object = try Self.object(body)
        guard let name = object["api"]?.stringValue, let api = KafkaAPIKey(name: name) else {
            throw .badRequest("api", "api is a Kafka request name: \(KafkaAPIKey.all.map(\.description).joined(separator: ", "))")
        }
        guard case .array(let names)? = object["errors"] else {
            throw .badRequest("errors", "errors is a list of Kafka error names, e.g. [\"NOT_LEADER_OR_FOLLOWER\"]; [] clears the pending ones")
        }
        var codes: [KafkaError.Code] = []
        for (index, name) in names.enumerated() {
            guard let text = name.stringValue, let code = KafkaError.Code(protocolName: text) else {
                throw .badRequest("errors[\(index)]", "not a Kafka error name: \(name.stringValue ?? name.typeName)")
            }
            codes.append(code)
        }
        let broker = try object["broker"].map { value throws(Answer) in try Self.brokerID(value, field: "broker") }
        if let broker { try known(broker) }
        if codes.isEmpty {
            cluster.clearRequestErrors(api)
        } else if let broker {
            do throws(KafkaError) {
                for code in codes { try cluster.pushRequestError(api, broker: broker, error: code) }
            } catch {
                throw .failed(error)
            }
        } else {
            cluster.pushRequestErrors(api, codes)
        }
    }

    private func leader(topic: String, partition text: Substring, _ body: [UInt8]) throws(Answer) {
        guard let count = partitions[topic] else { throw .notFound("no topic \(topic)") }
        guard let partition = Int32(text) else { throw .badRequest("partition", "a partition is a number, from 0") }
        guard (0..<Int32(count)).contains(partition) else { throw .notFound("no partition \(partition) of \(topic): it has \(count)") }
        let broker = try Self.brokerID(try Self.object(body)["broker"], field: "broker")
        try known(broker)
        do throws(KafkaError) {
            try cluster.setPartitionLeader(topic: topic, partition: partition, broker: broker)
        } catch {
            throw .failed(error)
        }
        state.withLock { $0.leaderMoves[topic, default: [:]][partition] = broker }
    }

    private func coordinator(_ body: [UInt8]) throws(Answer) {
        let object = try Self.object(body)
        guard let type = object["type"]?.stringValue, let kind = EmbeddedKafkaCluster.CoordinatorKind(rawValue: type) else {
            throw .badRequest("type", "type is group or transaction")
        }
        guard let key = object["key"]?.stringValue, !key.isEmpty else { throw .badRequest("key", "key is the group id or the transactional id") }
        let broker = try Self.brokerID(object["broker"], field: "broker")
        try known(broker)
        do throws(KafkaError) {
            try cluster.setCoordinator(kind, key: key, broker: broker)
        } catch {
            throw .failed(error)
        }
        state.withLock { $0.coordinators[Coordinator(type: type, key: key)] = broker }
    }

    // MARK: State and input

    /// The contract's `GET /state`, plus the leaders and coordinators moved through this API.
    private func currentState() -> Answer {
        let state = state.withLock { $0 }
        let brokers: [JSONValue] = cluster.brokerIDs.map { id in
            .object(["id": .integer(Int64(id)), "up": .bool(!state.down.contains(id)), "rttMs": .integer(state.rttMs[id] ?? 0)])
        }
        var topics: [String: JSONValue] = [:]
        for (topic, count) in partitions {
            var entry: [String: JSONValue] = ["partitions": .integer(Int64(count))]
            if let moves = state.leaderMoves[topic] {
                entry["leaders"] = .object(Dictionary(uniqueKeysWithValues: moves.map { ("\($0.key)", .integer(Int64($0.value))) }))
            }
            topics[topic] = .object(entry)
        }
        var body: [String: JSONValue] = ["brokers": .array(brokers), "topics": .object(topics)]
        if !state.coordinators.isEmpty {
            body["coordinators"] = .array(
                state.coordinators.sorted { $0.key < $1.key }.map {
                    .object(["type": .string($0.key.type), "key": .string($0.key.key), "broker": .integer(Int64($0.value))])
                })
        }
        return Answer(status: 200, body: .object(body))
    }

    private func known(_ id: Int32) throws(Answer) {
        guard cluster.brokerIDs.contains(id) else { throw .notFound("no broker \(id): brokers are 1 to \(cluster.brokerIDs.count)") }
    }

    private static func brokerID(_ value: JSONValue?, field: String) throws(Answer) -> Int32 {
        guard case .integer(let id)? = value, let id32 = Int32(exactly: id) else { throw .badRequest(field, "\(field) is a broker id, a number from 1") }
        return id32
    }

    private static func object(_ body: [UInt8]) throws(Answer) -> [String: JSONValue] {
        guard case .object(let object)? = try? JSONParser.parse(body) else { throw .badRequest("body", "the body is a JSON object") }
        return object
    }
}

import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A raw HTTP/1.1 server on 127.0.0.1 for the lean client's tests: it reads each request (head,
/// and a body by Content-Length) and answers it as `respond` says, byte for byte, recording what
/// came and on which connection. Requests are not parsed beyond that on purpose: the test says
/// exactly what goes back on the wire.
final class TinyHTTPServer: Sendable {
    enum Reply: Sendable {
        /// Written in these pieces, each flushed on its own, with a short pause between them.
        case send([[UInt8]])
        case sendAndClose([UInt8])
        /// Written after a pause, so that calls overlap.
        case delayed(milliseconds: Int64, [UInt8])
        /// Closed without an answer, as a server that closed the connection idle just as the request came.
        case close
        /// Never answered.
        case ignore
    }

    struct Request: Sendable {
        var head: String
        var body: [UInt8]
        /// 1 for the first connection accepted.
        var connection: Int
        /// 1 for the first request on its connection.
        var index: Int
        /// The whole request came in one read (as it does when the client wrote it in one write).
        var cameWhole: Bool

        var method: Substring { head.prefix(while: { $0 != " " }) }
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() { return parts[1].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
    }

    private struct Record {
        var connections = 0
        var requests: [Request] = []
        var channels: [any Channel] = []
    }

    let port: Int
    private let channel: any Channel
    private let box: RecordBox

    private init(port: Int, channel: any Channel, box: RecordBox) {
        self.port = port
        self.channel = channel
        self.box = box
    }

    var connections: Int { box.record.withLock { $0.connections } }
    var requests: [Request] { box.record.withLock { $0.requests } }

    static func start(tls: NIOSSLContext? = nil, respond: @escaping @Sendable (Request) -> Reply) async throws -> TinyHTTPServer {
        let box = RecordBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let connection = box.record.withLock { record in
                    record.connections += 1
                    record.channels.append(channel)
                    return record.connections
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(connection: connection, respond: respond, recorded: { request in box.record.withLock { $0.requests.append(request) } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TinyHTTPServer(port: channel.localAddress!.port!, channel: channel, box: box)
    }

    func stop() async {
        let channels = box.record.withLock { $0.channels }
        for child in channels { try? await child.close() }
        try? await channel.close()
    }

    /// The record, shared with the child channels' handlers (on their event loops) and the test.
    private final class RecordBox: Sendable {
        let record = Mutex(Record())
    }

    static func response(_ status: Int = 200, _ reason: String = "OK", headers: [String] = [], body: String = "") -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reason)\r\n"
        for header in headers { text += header + "\r\n" }
        if !headers.contains(where: { $0.lowercased().hasPrefix("transfer-encoding") }) { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + body
        return Array(text.utf8)
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let connection: Int
        let respond: @Sendable (Request) -> Reply
        let recorded: @Sendable (Request) -> Void
        var pending: [UInt8] = []
        var index = 0
        var reads = 0

        init(connection: Int, respond: @escaping @Sendable (Request) -> Reply, recorded: @escaping @Sendable (Request) -> Void) {
            self.connection = connection
            self.respond = respond
            self.recorded = recorded
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            pending += buffer.readBytes(length: buffer.readableBytes) ?? []
            reads += 1
            while let request = nextRequest() {
                recorded(request)
                reply(respond(request), context: context)
            }
        }

        private func nextRequest() -> Request? {
            guard let end = pending.indices.dropLast(3).first(where: { pending[$0...$0 + 3].elementsEqual([13, 10, 13, 10]) }) else { return nil }
            let head = String(decoding: pending[..<end], as: UTF8.self)
            var request = Request(head: head, body: [], connection: connection, index: index + 1, cameWhole: reads == 1)
            let length = request.header("Content-Length").flatMap(Int.init) ?? 0
            guard pending.count >= end + 4 + length else { return nil }
            request.body = Array(pending[(end + 4)..<(end + 4 + length)])
            request.cameWhole = reads == 1 && pending.count == end + 4 + length
            pending.removeFirst(end + 4 + length)
            reads = pending.isEmpty ? 0 : 1
            index += 1
            return request
        }

        private func reply(_ reply: Reply, context: ChannelHandlerContext) {
            switch reply {
            case .send(let pieces):
                let loop = context.eventLoop
                let bound = NIOLoopBound(context, eventLoop: loop)
                for (index, piece) in pieces.enumerated() {
                    loop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(index) * 20)) {
                        bound.value.writeAndFlush(NIOAny(ByteBuffer(bytes: piece)), promise: nil)
                    }
                }
            case .delayed(let milliseconds, let bytes):
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) {
                    bound.value.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
                }
            case .sendAndClose(let bytes):
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes))).whenComplete { _ in bound.value.close(promise: nil) }
            case .close:
                context.close(promise: nil)
            case .ignore:
                break
            }
        }
    }
}

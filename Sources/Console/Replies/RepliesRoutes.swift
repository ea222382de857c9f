import Foundation
import Hummingbird

/// The live replies page with its event stream, and search.
struct RepliesRoutes: Sendable {
    let replies: ReplyWindow
    let commands: CommandWindow
    let deadLetters: DeadLetterWindow

    func add(to router: Router<ConsoleRequestContext>) {
        router.get("/replies") { request, context in
            RepliesPage.render(window: Self.window(request), context: context)
        }
        router.get("/api/replies") { request, _ in DeadLetterRoutes.json(replies.summary(seconds: Self.window(request))) }
        // A summary a second, as server-sent events, until the page goes away.
        router.get("/api/replies/events") { request, _ -> Response in
            let window = Self.window(request)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    let encoder = JSONEncoder()
                    while !Task.isCancelled {
                        let data = try encoder.encode(replies.summary(seconds: window))
                        try await writer.write(ByteBuffer(string: "data: \(String(decoding: data, as: UTF8.self))\n\n"))
                        try await Task.sleep(for: .seconds(1))
                    }
                    try await writer.finish(nil)
                })
        }
        router.get("/search") { request, context -> Response in
            let query = (request.uri.queryParameters.get("q") ?? "").trimmingCharacters(in: .whitespaces)
            guard !query.isEmpty else { return SearchPage.render(query: "", commands: [], replies: [], deadLetters: [], context: context) }
            let found = commands.find(query)
            // Replies and dead letters of the commands found, and those matching the text directly.
            let ids = Set(found.compactMap(\.commandId) + [query])
            let answers = ids.flatMap { replies.find($0) }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
            let letters = deadLetters.all.filter { letter in letter.commandId.map(ids.contains) ?? false || letter.keyText == query }
            return SearchPage.render(query: query, commands: found, replies: Self.unique(answers), deadLetters: letters, context: context)
        }
    }

    /// Each reply once (a query may name it twice: by commandId and by key).
    static func unique(_ entries: [ReplyWindow.Entry]) -> [ReplyWindow.Entry] {
        var seen: Set<String> = []
        return entries.filter { seen.insert("\($0.partition)/\($0.offset)").inserted }
    }

    static func window(_ request: Request) -> Int {
        request.uri.queryParameters.get("window").flatMap { Int($0) } ?? 300
    }
}

import Foundation
import Hummingbird
import ProvisioningContract
import Redrive

/// "What happened to this user?": by commandId, correlationId, key or user id, the command,
/// every reply (duplicates marked), its dead letter, attempts, the vendor's code and the trace id,
/// from what the console's windows hold.
enum SearchPage {
    static func render(
        query: String, commands: [CommandWindow.Entry], replies: [ReplyWindow.Entry], deadLetters: [DeadLetter], context: ConsoleRequestContext
    ) -> Response {
        let form: HTML = """
            <form id="search" method="get" action="/search"><input name="q" value="\(query)" size="50" placeholder="commandId, correlationId, key or user id" autofocus>
            <button type="submit">Search</button></form>
            """
        guard !query.isEmpty else { return Layout.page("Search", path: "/search", context: context, body: form) }
        let commandRows = commands.map { command -> HTML in
            """
            <tr><td>\(command.partition)/\(command.offset)</td><td>\(command.receivedAt.map { Timestamp.format($0) } ?? "")</td><td>\(command.key ?? "–")</td>
            <td>\(command.commandId ?? "–")</td><td>\(command.traceId ?? "–")</td><td><pre>\(command.redactedValue)</pre></td></tr>
            """
        }
        let replyRows = replies.map { reply -> HTML in
            """
            <tr\(reply.duplicate ? HTML(" class=\"duplicate\"") : "")><td>\(reply.completedAt)</td><td>\(reply.commandId ?? "–")</td><td>\(reply.status)\(reply.duplicate ? HTML(" <strong>duplicate</strong>") : "")</td>
            <td>\(reply.category ?? "")</td><td>\(reply.code ?? "")</td><td>\(reply.attempts)</td><td>\(reply.worker)</td><td>\(reply.traceId ?? "–")</td></tr>
            """
        }
        let letterRows = deadLetters.map { letter -> HTML in
            """
            <tr><td><a href="/dead-letters/\(letter.position.partition)/\(letter.position.offset)">\(letter.position.description)</a></td>
            <td>\(letter.commandId ?? "–")</td><td>\(letter.category ?? "")</td><td>\(letter.code ?? "")</td><td>\(letter.headers.string("dlq.attempts") ?? "")</td></tr>
            """
        }
        let body: HTML = """
            \(form)
            <h2>Commands (\(commands.count))</h2>
            <table id="found-commands"><thead><tr><th>position</th><th>received</th><th>key</th><th>commandId</th><th>trace id</th><th>command (redacted)</th></tr></thead><tbody>\(commandRows)</tbody></table>
            <h2>Replies (\(replies.count))</h2>
            <table id="found-replies"><thead><tr><th>completed</th><th>commandId</th><th>status</th><th>category</th><th>vendor code</th><th>attempts</th><th>worker</th><th>trace id</th></tr></thead><tbody>\(replyRows)</tbody></table>
            <h2>Dead letters (\(deadLetters.count))</h2>
            <table id="found-dead-letters"><thead><tr><th>position</th><th>commandId</th><th>category</th><th>code</th><th>attempts</th></tr></thead><tbody>\(letterRows)</tbody></table>
            """
        return Layout.page("Search", path: "/search", context: context, body: body)
    }
}

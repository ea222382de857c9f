import Hummingbird

/// Text for HTML, escaped: nothing from Kafka is ever markup.
struct HTML: Sendable, ExpressibleByStringInterpolation {
    var text: String

    init(stringLiteral value: String) { text = value }
    init(_ trusted: String) { text = trusted }

    init(stringInterpolation: Interpolation) { text = stringInterpolation.text }

    struct Interpolation: StringInterpolationProtocol {
        var text = ""
        init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }
        mutating func appendLiteral(_ literal: String) { text += literal }
        /// Untrusted text: escaped.
        mutating func appendInterpolation(_ value: some CustomStringConvertible) { text += HTML.escape(value.description) }
        /// Markup built by this module.
        mutating func appendInterpolation(_ html: HTML) { text += html.text }
        mutating func appendInterpolation(_ parts: [HTML]) { text += parts.map(\.text).joined() }
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// Every page: navigation, the CSRF token for the page's scripts, the console's own style.
enum Layout {
    static let sections: [(path: String, title: String)] = [
        ("/", "Fleet"), ("/replies", "Replies"), ("/search", "Search"), ("/dead-letters", "Dead letters"), ("/redrives", "Redrives"),
    ]

    static func page(_ title: String, path: String, context: ConsoleRequestContext, body: HTML) -> Response {
        let navigation = sections.map { section -> HTML in
            section.path == path ? "<a class=\"current\" href=\"\(section.path)\">\(section.title)</a>" : "<a href=\"\(section.path)\">\(section.title)</a>"
        }
        let page: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title) · provisioner console</title>
            <meta name="csrf-token" content="\(context.csrfToken ?? "")">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="stylesheet" href="/assets/console.css"></head>
            <body><header><strong>provisioner console</strong><nav>\(navigation)</nav><span class="user">\(context.user ?? "")</span></header>
            <main><h1>\(title)</h1>
            \(body)
            </main></body></html>
            """
        return Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page.text)))
    }
}

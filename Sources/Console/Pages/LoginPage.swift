import Hummingbird

/// The login form: for browsers; scripts use HTTP Basic.
enum LoginPage {
    static func render(failed: Bool) -> Response {
        let notice: HTML = failed ? "<p class=\"breaker-open\">Wrong user name or password.</p>" : ""
        let page: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Sign in · provisioner console</title>
            <link rel="stylesheet" href="/assets/console.css"></head>
            <body><header><strong>provisioner console</strong></header><main>
            <form class="login" method="post" action="/login">\(notice)
            <label for="username">User</label><input id="username" name="username" autocomplete="username" required>
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
            <button type="submit">Sign in</button></form></main></body></html>
            """
        return Response(
            status: failed ? .unauthorized : .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page.text)))
    }
}

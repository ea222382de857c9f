/// The console's own style sheet (no build step, nothing fetched from elsewhere).
enum Assets {
    static let css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
        header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #1d2430; color: #fff; }
        header nav a { color: #c9d3e3; margin-right: 1em; text-decoration: none; }
        header nav a.current { color: #fff; border-bottom: 2px solid #6aa7ff; }
        header .user { margin-left: auto; color: #c9d3e3; }
        main { padding: 1em 1.2em; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
        th { background: #eef1f5; font-weight: 600; }
        .presence-running { color: #11772d; } .presence-stopping { color: #9a6700; }
        .presence-gone { color: #b42318; font-weight: 600; } .presence-stopped { color: #6b7280; }
        .breaker-open { color: #b42318; font-weight: 600; } .breaker-half-open { color: #9a6700; }
        .muted { color: #6b7280; }
        form.login { max-width: 22em; background: #fff; padding: 1.2em; border: 1px solid #e3e6eb; }
        form.login label { display: block; margin: .6em 0 .2em; } form.login input { width: 100%; padding: .35em; }
        button { margin-top: .8em; padding: .4em 1em; }
        """
}

//! Headless Chromium for the web UI's tests: `chromedriver` on a free
//! loopback port and a small client of the W3C WebDriver protocol (JSON
//! over HTTP, through `ureq`): open pages, find elements, type, click,
//! run scripts, resize the window, save screenshots and send DevTools
//! commands.

use base64::Engine as _;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver process and one browser session, both ended on drop.
pub struct Browser {
    base: String,
    session: String,
    driver: Child,
    agent: ureq::Agent,
}

/// An element of the page (its WebDriver reference).
#[derive(Debug, Clone)]
pub struct Element(String);

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Whether chromium and chromedriver are installed (CI installs them;
/// elsewhere the browser tests are skipped, in CI they fail).
pub fn available() -> bool {
    let ok = ["chromedriver", "chromium"].iter().all(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI=true but chromium or chromedriver is missing (see .ci/run)");
    }
    ok
}

impl Browser {
    /// Starts chromedriver and a headless browser `width` × 900.
    pub fn start(width: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},900"), "--hide-scrollbars"]
            }
        }}});
        let mut b = Browser {
            base,
            session: String::new(),
            driver,
            agent,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"].as_str().expect("a session id").to_string();
        b.set_width(width);
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let text = response
            .expect("reach chromedriver")
            .body_mut()
            .read_to_string()
            .expect("a chromedriver answer");
        let v: Value = serde_json::from_str(&text).expect("JSON from chromedriver");
        if let Some(err) = v["value"]["error"].as_str() {
            panic!(
                "webdriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        v["value"].clone()
    }

    /// Resizes the viewport to `width` CSS pixels (window height 900).
    pub fn set_width(&self, width: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": 900})),
        );
        // The window is wider than its viewport by the frame, if any.
        let inner = self.script("return window.innerWidth", json!([]));
        let inner = inner.as_u64().unwrap_or(u64::from(width)) as i64;
        let delta = i64::from(width) - inner;
        if delta != 0 {
            self.call(
                "POST",
                "/window/rect",
                Some(json!({"width": i64::from(width) + delta, "height": 900})),
            );
        }
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `body` (a function body; `arguments` are `args`).
    pub fn script(&self, body: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": args})),
        )
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css, Duration::from_secs(10))
            .unwrap_or_else(|| {
                let source = self.call("GET", "/source", None);
                let source = source.as_str().unwrap_or_default();
                panic!(
                    "no element '{css}' on {}: {}",
                    self.url(),
                    &source[..source.len().min(1500)]
                )
            })
    }

    /// The first element matching `css` within `wait`, if any.
    pub fn try_find(&self, css: &str, wait: Duration) -> Option<Element> {
        let deadline = Instant::now() + wait;
        loop {
            let v = self.call(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(first) = v.as_array().and_then(|a| a.first()) {
                return Some(Element(first[ELEMENT_KEY].as_str()?.to_string()));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many elements match `css` now.
    pub fn count(&self, css: &str) -> usize {
        self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    pub fn click(&self, e: &Element) {
        self.call("POST", &format!("/element/{}/click", e.0), None);
    }

    /// Clears a field and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{}/clear", e.0), None);
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        );
    }

    /// Sets a field's value directly (long or multi-line text).
    pub fn set_value(&self, css: &str, text: &str) {
        self.script(
            "document.querySelector(arguments[0]).value = arguments[1];",
            json!([css, text]),
        );
    }

    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.call("GET", &format!("/element/{}/text", e.0), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The value of a form field.
    pub fn value(&self, css: &str) -> String {
        self.script(
            "return document.querySelector(arguments[0]).value;",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Submits the form holding the element `css` (a real click on it).
    /// For a submit button, returns once the page the form leads to has
    /// loaded (a mark left on the old document is gone), so the next step
    /// never races it.
    pub fn press(&self, css: &str) {
        let e = self.find(css);
        let submits = self
            .script(
                "var e = document.querySelector(arguments[0]); \
                 return !!(e && e.form && e.type === 'submit');",
                json!([css]),
            )
            .as_bool()
            == Some(true);
        if !submits {
            // A tab or another in-page button: nothing to wait for.
            self.click(&e);
            return;
        }
        self.script("window.__vespene_pressed = true;", json!([]));
        self.click(&e);
        self.wait_for(
            &format!("the page after pressing {css}"),
            "return window.__vespene_pressed !== true && document.readyState === 'complete';",
            Duration::from_secs(60),
        );
    }

    /// Waits until `body` (a script returning a boolean) is true.
    pub fn wait_for(&self, what: &str, body: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        // A page being redrawn (the pipeline map, say) may lack the element
        // for a moment: that is "not yet", not a failure.
        let guarded = format!("try {{ {body} }} catch (e) {{ return false; }}");
        loop {
            if self.script(&guarded, json!([])).as_bool() == Some(true) {
                return;
            }
            if Instant::now() >= deadline {
                let shot = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/screenshots/failure.png");
                self.screenshot(&shot);
                let errors = self.script("return window.__ui_errors || null;", json!([]));
                panic!(
                    "timed out waiting for {what} on {} (screenshot: {}; script errors: {errors})",
                    self.url(),
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the page scrolls sideways.
    pub fn scrolls_sideways(&self) -> bool {
        self.script(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            json!([]),
        )
        .as_bool()
        .unwrap_or(true)
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let v = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver's
    /// `goog/cdp/execute` (e.g. `Performance.getMetrics`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
    }

    /// Accepts confirm() dialogs without showing them.
    pub fn accept_confirms(&self) {
        self.script("window.confirm = function () { return true; };", json!([]));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

//! A real, headless Chromium driven over WebDriver: each test starts its own
//! `chromedriver` on a free port and its own browser profile, and both are
//! gone when the test ends, whether it passed or panicked.

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tempfile::TempDir;
use tokio::time::Instant;

/// Debian's `chromium` and `chromium-driver` packages put them here.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str =
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver";

/// How long anything in the browser may take: start-up, a page, an element.
pub const BROWSER_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// `chromedriver` and every browser process it started, in a process group of
/// their own so that all of them can be ended together.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn spawn(dir: &Path) -> Self {
        let log = dir.join("chromedriver.log");
        let port = free_port();
        let output = File::create(&log).expect("create the chromedriver log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log file handle"))
            .stderr(output)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        Self { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until chromedriver answers `/status` with `ready: true`.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let status = format!("{}/status", self.url());
        let http = reqwest::Client::new();
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                return Err(format!("chromedriver exited with {exit}"));
            }
            if let Ok(response) = http.get(&status).send().await {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if body["value"]["ready"] == json!(true) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver did not answer on port {} within {BROWSER_WAIT:?}",
                    self.port
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver, and the browser it may have left
        // behind when a test panicked before closing its session.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (chromedriver takes it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether the browser tests can run. Without Chromium and chromedriver they
/// are left out with a loud note, as the PostgreSQL suite is, except in CI,
/// where a browser test that quietly does nothing would pass while testing
/// nothing: there their absence is a failure.
fn installed() -> bool {
    let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!(
            "the browser tests need Chromium and chromedriver, but {} is missing; CI must install them (.ci/run does):\n  {INSTALL_HINT}",
            missing.join(" and ")
        );
    }
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        // Straight to the terminal: the test harness captures eprintln! of a
        // passing test, and this note must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\nnote: browser tests NOT run: {} missing; to run them:\n  {INSTALL_HINT}\n",
            missing.join(" and ")
        );
    });
    false
}

fn capabilities(profile: &Path) -> Capabilities {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        // Without these Chromium phones home, and this closed network refuses it.
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        // Same size and scale everywhere, so screenshots are comparable.
        "--window-size=1440,1100".to_owned(),
        "--force-device-scale-factor=1".to_owned(),
        "--lang=en-US".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let value = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    value.as_object().cloned().expect("a JSON object")
}

pub struct Browser {
    pub client: Client,
    // Dropped after the client: ends chromedriver and the browser, then the
    // folder holding the profile and the log goes.
    driver: Driver,
    _dir: TempDir,
}

impl Browser {
    /// A browser of the test's own, or `None` (with a note) where Chromium is
    /// not installed and this is not CI.
    pub async fn start() -> Option<Self> {
        if !installed() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary folder");
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).expect("profile folder");

        // The free port can be taken between finding and using it; try again then.
        let mut failures = Vec::new();
        let driver = loop {
            let mut driver = Driver::spawn(dir.path());
            match driver.wait_until_ready().await {
                Ok(()) => break driver,
                Err(reason) => {
                    failures.push(format!("{reason}\n{}", driver.log_text()));
                    assert!(
                        failures.len() < 3,
                        "chromedriver would not start:\n{}",
                        failures.join("\n---\n")
                    );
                }
            }
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(&profile))
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium ({CHROMIUM}) would not start through chromedriver: {e}\n{}",
                    driver.log_text()
                )
            });
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(BROWSER_WAIT),
                Some(BROWSER_WAIT),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set the browser's timeouts");
        Some(Self {
            client,
            driver,
            _dir: dir,
        })
    }

    /// Ends the WebDriver session, which closes the browser cleanly.
    pub async fn close(self) {
        let Browser {
            client,
            driver,
            _dir,
        } = self;
        let _ = client.close().await;
        drop(driver);
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("the browser could not open {url}: {e}"));
    }

    /// Waits for an element matching `xpath` and returns it. On timeout the
    /// page is saved as a screenshot and its text goes into the panic.
    pub async fn wait_for(&self, xpath: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(BROWSER_WAIT)
            .every(POLL)
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(element) => element,
            Err(e) => self.fail(&format!("waited for {xpath}: {e}")).await,
        }
    }

    /// Waits for a page whose `<h1>` reads `heading`.
    pub async fn wait_for_heading(&self, heading: &str) -> Element {
        self.wait_for(&format!(
            "//h1[normalize-space()={}]",
            xpath_literal(heading)
        ))
        .await
    }

    /// Types `text` into the field labelled with id `id`, replacing what was there.
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .wait_for(&format!("//*[@id={}]", xpath_literal(id)))
            .await;
        field.clear().await.expect("clear the field");
        field.send_keys(text).await.expect("type into the field");
    }

    /// The current value of the form field with id `id`.
    pub async fn value_of(&self, id: &str) -> String {
        let field = self
            .wait_for(&format!("//*[@id={}]", xpath_literal(id)))
            .await;
        field
            .prop("value")
            .await
            .expect("read the field")
            .unwrap_or_default()
    }

    /// Follows the link that reads `text`.
    pub async fn follow(&self, text: &str) {
        let link = self
            .wait_for(&format!("//a[normalize-space()={}]", xpath_literal(text)))
            .await;
        if let Err(e) = link.click().await {
            self.fail(&format!("following {text:?}: {e}")).await;
        }
    }

    /// Presses the button that reads `label`.
    pub async fn press(&self, label: &str) {
        let button = self
            .wait_for(&format!(
                "//button[normalize-space()={}]",
                xpath_literal(label)
            ))
            .await;
        if let Err(e) = button.click().await {
            self.fail(&format!("pressing {label:?}: {e}")).await;
        }
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("the page has a body")
            .text()
            .await
            .expect("the page's text")
    }

    pub async fn current_path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Saves the page as `target/screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        let path = screenshot_path(name);
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Saves the whole page, not only what fits in the window, by making
    /// the window as tall as the page for the moment.
    pub async fn screenshot_full_page(&self, name: &str) -> PathBuf {
        let (width, height) = self
            .client
            .get_window_size()
            .await
            .expect("the window size");
        let sizes = self
            .client
            .execute(
                "return [document.documentElement.scrollHeight, \
                         window.outerHeight - window.innerHeight];",
                Vec::new(),
            )
            .await
            .expect("measure the page");
        let page = sizes[0].as_u64().unwrap_or(height);
        let frame = sizes[1].as_u64().unwrap_or(0);
        let tall = (page + frame).clamp(height, 6000);
        let size = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.client
            .set_window_size(size(width), size(tall))
            .await
            .expect("resize the window");
        let path = self.screenshot(name).await;
        self.client
            .set_window_size(size(width), size(height))
            .await
            .expect("restore the window size");
        path
    }

    async fn fail(&self, what: &str) -> ! {
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|e| format!("(unknown: {e})"), |u| u.to_string());
        let text = self.client.find(Locator::Css("body")).await;
        let text = match text {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let saved = match self.client.screenshot().await {
            Ok(png) => {
                let path = screenshot_path(&format!("failed-{:08x}", rand::random::<u32>()));
                match std::fs::write(&path, png) {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("(not saved: {e})"),
                }
            }
            Err(e) => format!("(no screenshot: {e})"),
        };
        panic!("{what}\n  page: {url}\n  screenshot: {saved}\n  text:\n{text}");
    }
}

/// `target/screenshots/NAME.png` in the crate, the folder created if need be.
fn screenshot_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir.join(format!("{name}.png"))
}

/// `text` as an XPath 1.0 string literal (which has no escapes).
pub fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

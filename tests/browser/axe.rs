//! axe-core, the accessibility checker (from npm, `tests/browser/axe`), run
//! inside the real Chromium on the page the browser shows. `.ci/run` installs
//! it with `npm ci`; without it the accessibility walk is left out with a
//! loud note, which under CI=true is a failure.

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use serde_json::Value;

use super::driver::Browser;

const SCRIPT: &str = "tests/browser/axe/node_modules/axe-core/axe.min.js";
const INSTALL_HINT: &str = "npm ci --prefix tests/browser/axe";

/// The impacts that fail a page: axe's "serious" and "critical".
const FAILING_IMPACTS: [&str; 2] = ["serious", "critical"];

pub struct Axe {
    source: String,
}

impl Axe {
    /// The checker, or `None` (with a note) where it is not installed and this
    /// is not CI.
    pub fn load() -> Option<Self> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
        match std::fs::read_to_string(&path) {
            Ok(source) => Some(Self { source }),
            Err(error) => {
                if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
                    panic!(
                        "the accessibility checks need axe-core at {} ({error}); CI must install it (.ci/run does):\n  {INSTALL_HINT}",
                        path.display()
                    );
                }
                static NOTE: Once = Once::new();
                NOTE.call_once(|| {
                    // Straight to the terminal: the harness captures a passing test's output.
                    let _ = writeln!(
                        std::io::stderr(),
                        "\nnote: accessibility checks NOT run: axe-core is missing; to run them:\n  {INSTALL_HINT}\n"
                    );
                });
                None
            }
        }
    }

    /// The serious and critical violations on the page now shown, one line
    /// each: the rule, what it asks for, and the elements that break it.
    pub async fn violations(&self, browser: &Browser) -> Vec<String> {
        // WebDriver's scripts are not bound by the page's CSP, which allows
        // only Herald's own script files.
        browser
            .client
            .execute(&format!("{}\nreturn true;", self.source), Vec::new())
            .await
            .expect("load axe-core into the page");
        let found = browser
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ["violations"] })
                     .then((r) => done(r.violations))
                     .catch((e) => done({ error: String(e) }));"#,
                Vec::new(),
            )
            .await
            .expect("run axe-core");
        if let Some(error) = found.get("error") {
            panic!("axe-core failed on the page: {error}");
        }
        found
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|v| FAILING_IMPACTS.contains(&v["impact"].as_str().unwrap_or_default()))
            .map(describe)
            .collect()
    }
}

fn describe(violation: &Value) -> String {
    let nodes: Vec<String> = violation["nodes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|node| {
            format!(
                "{} ({})",
                node["target"],
                node["failureSummary"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\n', " ")
            )
        })
        .collect();
    format!(
        "{} [{}]: {} — {}",
        violation["id"].as_str().unwrap_or_default(),
        violation["impact"].as_str().unwrap_or_default(),
        violation["help"].as_str().unwrap_or_default(),
        nodes.join("; ")
    )
}

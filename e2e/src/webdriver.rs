//! A small W3C WebDriver client over blocking HTTP: just what the scenarios use.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Session {
    http: reqwest::blocking::Client,
    base: String,
    #[allow(dead_code)]
    pub id: String,
}

#[derive(Clone, Debug)]
pub struct El(pub String);

impl Session {
    /// Starts the app through tauri-driver (`application` is the app binary).
    pub fn start(driver_url: &str, application: &Path) -> Result<Session> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": application.to_string_lossy()}
        }}});
        let resp: Value = http
            .post(format!("{driver_url}/session"))
            .json(&caps)
            .send()
            .context("POST /session")?
            .json()?;
        let id = resp["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session: {resp}"))?
            .to_string();
        Ok(Session { http, base: format!("{driver_url}/session/{id}"), id })
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let resp = req.send().with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let v: Value = resp.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: {status}: {}", v["value"]["message"].as_str().unwrap_or(&v.to_string()));
        }
        Ok(v["value"].clone())
    }

    pub fn find(&self, css: &str) -> Result<El> {
        let v = self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))?;
        v[ELEMENT_KEY].as_str().map(|s| El(s.to_string())).ok_or_else(|| anyhow!("no element {css}"))
    }

    pub fn find_all(&self, css: &str) -> Result<Vec<El>> {
        let v = self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css})))?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| El(s.to_string()))).collect())
            .unwrap_or_default())
    }

    /// Waits until `css` matches an element (10 s).
    pub fn wait(&self, css: &str) -> Result<El> {
        self.wait_for(css, Duration::from_secs(10))
    }

    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<El> {
        let start = Instant::now();
        loop {
            if let Ok(e) = self.find(css) {
                return Ok(e);
            }
            if start.elapsed() > timeout {
                bail!("timed out after {:?} waiting for `{css}`", timeout);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `css` matches nothing.
    #[allow(dead_code)]
    pub fn wait_gone(&self, css: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while self.find_all(css)?.len() > 0 {
            if start.elapsed() > timeout {
                bail!("timed out after {:?} waiting for `{css}` to go", timeout);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Waits until the text of `css` contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<String> {
        let start = Instant::now();
        loop {
            // The DOM's text (WebDriver's "visible text" can lag a re-render in WebKit).
            let text = self
                .exec("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", json!([css]))
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if start.elapsed() > timeout {
                bail!("timed out after {:?} waiting for `{css}` to contain {needle:?} (it reads {text:?})", timeout);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn click(&self, e: &El) -> Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/click", e.0), None).map(|_| ())
    }

    /// Finds `css` and clicks it. A re-render can replace the node between the find and
    /// the click (the driver answers "stale element" or "not interactable", and nothing
    /// was clicked), so the element is found again and clicked until the 10 s deadline.
    pub fn click_css(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.wait(css)?;
            match self.click(&e) {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() < deadline => {
                    eprintln!("click {css}: {err:#}; finding it again");
                    std::thread::sleep(Duration::from_millis(150));
                }
                Err(err) => return Err(err).with_context(|| format!("click {css}")),
            }
        }
    }

    pub fn clear(&self, e: &El) -> Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/clear", e.0), None).map(|_| ())
    }

    pub fn send_keys(&self, e: &El, text: &str) -> Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/value", e.0), Some(json!({"text": text})))
            .map(|_| ())
    }

    /// Clears the field and types `text`, as a person would.
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.wait(css)?;
        self.clear(&e)?;
        // Clearing does not fire `input` in every driver: select all and type over it.
        self.send_keys(&e, "\u{E009}a\u{E009}\u{E003}")?;
        self.send_keys(&e, text).with_context(|| format!("type into {css}"))
    }

    pub fn text(&self, e: &El) -> Result<String> {
        Ok(self.call(reqwest::Method::GET, &format!("/element/{}/text", e.0), None)?.as_str().unwrap_or("").to_string())
    }

    pub fn text_of(&self, css: &str) -> Result<String> {
        let e = self.wait(css)?;
        self.text(&e)
    }

    pub fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        let e = self.wait(css)?;
        Ok(self.call(reqwest::Method::GET, &format!("/element/{}/attribute/{name}", e.0), None)?.as_str().map(str::to_string))
    }

    pub fn exec(&self, script: &str, args: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Waits until `script` (a JS expression body returning a value) returns true.
    #[allow(dead_code)]
    pub fn wait_js(&self, what: &str, script: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.exec(script, json!([]))?.as_bool() == Some(true) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("timed out after {:?} waiting until {what}", timeout);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None)?;
        let b64 = v.as_str().ok_or_else(|| anyhow!("no screenshot"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(b64)?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    pub fn quit(&self) -> Result<()> {
        self.http.delete(&self.base).send()?;
        Ok(())
    }
}

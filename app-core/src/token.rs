//! Where the session token lives: the OS keyring, an explicit 0600 file, or memory (tests).
//! Never in the replica: the replica is data the user may back up or share a device with; the
//! token is a credential.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// The keyring's service name for Hub's tokens.
pub const KEYRING_SERVICE: &str = "se.hub.app";

/// Which store keeps the session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStoreKind {
    /// The OS keyring: the Secret Service on Linux (GNOME Keyring, KWallet), the Keychain
    /// on macOS and iOS, the Credential Manager on Windows. Errors if there is none; it
    /// never silently falls back (see [`TokenStoreKind::keyring_or_file`]).
    Keyring,
    /// A file `tokens/<account>.token` in the data folder, readable by the user only (0600).
    /// For headless machines without a keyring; logged as such whenever a token is stored.
    File,
    /// Process memory only (tests): survives dropping and reopening an `AppCore` in the same
    /// process, keyed by data folder, never written anywhere.
    Memory,
}

impl TokenStoreKind {
    /// The keyring when it answers (a probe entry can be written and removed), otherwise the
    /// file, with a warning in the log. For shells that want the fallback, explicitly.
    pub fn keyring_or_file() -> TokenStoreKind {
        match probe_keyring() {
            Ok(()) => TokenStoreKind::Keyring,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "no usable OS keyring: the session token will be kept in a 0600 file instead"
                );
                TokenStoreKind::File
            }
        }
    }

    pub fn parse(s: &str) -> Option<TokenStoreKind> {
        match s {
            "keyring" => Some(TokenStoreKind::Keyring),
            "file" => Some(TokenStoreKind::File),
            "memory" => Some(TokenStoreKind::Memory),
            _ => None,
        }
    }
}

fn probe_keyring() -> Result<(), CoreError> {
    let store = TokenStore::new(TokenStoreKind::Keyring, Path::new(""));
    let key = format!("probe-{}", uuid::Uuid::new_v4());
    store.set(&key, "probe")?;
    let back = store.get(&key)?;
    store.delete(&key)?;
    if back.as_deref() == Some("probe") {
        Ok(())
    } else {
        Err(CoreError::Keyring(
            "the keyring did not keep a probe entry".into(),
        ))
    }
}

fn memory() -> &'static Mutex<HashMap<(PathBuf, String), String>> {
    static MEMORY: OnceLock<Mutex<HashMap<(PathBuf, String), String>>> = OnceLock::new();
    MEMORY.get_or_init(|| Mutex::new(HashMap::new()))
}

pub(crate) struct TokenStore {
    kind: TokenStoreKind,
    data_dir: PathBuf,
    /// Keyring entries are kept, so that a store with per-entry state (keyring's mock in
    /// tests) sees what it was given.
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
    entries: Mutex<HashMap<String, keyring::Entry>>,
}

impl TokenStore {
    pub fn new(kind: TokenStoreKind, data_dir: &Path) -> TokenStore {
        TokenStore {
            kind,
            data_dir: data_dir.to_path_buf(),
            #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn file_path(&self, account: &str) -> PathBuf {
        self.data_dir
            .join("tokens")
            .join(format!("{account}.token"))
    }

    pub fn get(&self, account: &str) -> Result<Option<String>, CoreError> {
        match self.kind {
            TokenStoreKind::Memory => Ok(memory()
                .lock()
                .map_err(|_| CoreError::Keyring("memory token store poisoned".into()))?
                .get(&(self.data_dir.clone(), account.to_string()))
                .cloned()),
            TokenStoreKind::File => match std::fs::read_to_string(self.file_path(account)) {
                Ok(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(CoreError::Keyring(format!("reading the token file: {e}"))),
            },
            TokenStoreKind::Keyring => self.keyring_get(account),
        }
    }

    pub fn set(&self, account: &str, token: &str) -> Result<(), CoreError> {
        match self.kind {
            TokenStoreKind::Memory => {
                memory()
                    .lock()
                    .map_err(|_| CoreError::Keyring("memory token store poisoned".into()))?
                    .insert(
                        (self.data_dir.clone(), account.to_string()),
                        token.to_string(),
                    );
                Ok(())
            }
            TokenStoreKind::File => {
                let path = self.file_path(account);
                write_private_file(&path, token)
                    .map_err(|e| CoreError::Keyring(format!("writing the token file: {e}")))?;
                tracing::warn!(
                    path = %path.display(),
                    "session token stored in a file readable only by this user (0600), not in an OS keyring"
                );
                Ok(())
            }
            TokenStoreKind::Keyring => self.keyring_set(account, token),
        }
    }

    pub fn delete(&self, account: &str) -> Result<(), CoreError> {
        match self.kind {
            TokenStoreKind::Memory => {
                memory()
                    .lock()
                    .map_err(|_| CoreError::Keyring("memory token store poisoned".into()))?
                    .remove(&(self.data_dir.clone(), account.to_string()));
                Ok(())
            }
            TokenStoreKind::File => match std::fs::remove_file(self.file_path(account)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(CoreError::Keyring(format!("removing the token file: {e}"))),
            },
            TokenStoreKind::Keyring => self.keyring_delete(account),
        }
    }

    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
    fn with_entry<T>(
        &self,
        account: &str,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T>,
    ) -> Result<T, CoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| CoreError::Keyring("keyring entries poisoned".into()))?;
        if !entries.contains_key(account) {
            let entry = keyring::Entry::new(KEYRING_SERVICE, account)
                .map_err(|e| CoreError::Keyring(e.to_string()))?;
            entries.insert(account.to_string(), entry);
        }
        let entry = entries
            .get(account)
            .ok_or_else(|| CoreError::Keyring("keyring entry vanished".into()))?;
        f(entry).map_err(|e| CoreError::Keyring(e.to_string()))
    }

    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
    fn keyring_get(&self, account: &str) -> Result<Option<String>, CoreError> {
        self.with_entry(account, |e| match e.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(err),
        })
    }

    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
    fn keyring_set(&self, account: &str, token: &str) -> Result<(), CoreError> {
        self.with_entry(account, |e| e.set_password(token))
    }

    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
    fn keyring_delete(&self, account: &str) -> Result<(), CoreError> {
        self.with_entry(account, |e| match e.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(err),
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "ios", windows)))]
    fn keyring_get(&self, _: &str) -> Result<Option<String>, CoreError> {
        Err(no_keyring())
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "ios", windows)))]
    fn keyring_set(&self, _: &str, _: &str) -> Result<(), CoreError> {
        Err(no_keyring())
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "ios", windows)))]
    fn keyring_delete(&self, _: &str) -> Result<(), CoreError> {
        Err(no_keyring())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "ios", windows)))]
fn no_keyring() -> CoreError {
    CoreError::Keyring(
        "no OS keyring backend is built for this platform; use the file store".into(),
    )
}

/// Writes `contents` to `path` so that only the user can read it (0600 on Unix), replacing
/// it atomically.
pub(crate) fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a token file needs a folder"))?;
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_is_per_data_folder_and_survives_new_stores() {
        let a = TokenStore::new(TokenStoreKind::Memory, Path::new("/tmp/hub-mem-a"));
        let b = TokenStore::new(TokenStoreKind::Memory, Path::new("/tmp/hub-mem-b"));
        a.set("acct", "t1").unwrap();
        assert_eq!(a.get("acct").unwrap().as_deref(), Some("t1"));
        assert_eq!(b.get("acct").unwrap(), None);
        let a2 = TokenStore::new(TokenStoreKind::Memory, Path::new("/tmp/hub-mem-a"));
        assert_eq!(a2.get("acct").unwrap().as_deref(), Some("t1"));
        a2.delete("acct").unwrap();
        assert_eq!(a.get("acct").unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn file_store_writes_a_0600_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = TokenStore::new(TokenStoreKind::File, dir.path());
        assert_eq!(s.get("acct").unwrap(), None);
        s.set("acct", "secret").unwrap();
        let path = dir.path().join("tokens/acct.token");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(s.get("acct").unwrap().as_deref(), Some("secret"));
        s.set("acct", "second").unwrap();
        assert_eq!(s.get("acct").unwrap().as_deref(), Some("second"));
        s.delete("acct").unwrap();
        s.delete("acct").unwrap();
        assert_eq!(s.get("acct").unwrap(), None);
    }

    /// The keyring path, against keyring's own mock store (no OS keyring in CI). The mock
    /// keeps state per `Entry`, which is why the store keeps its entries.
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
    #[test]
    fn keyring_store_round_trips_through_keyrings_mock() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let s = TokenStore::new(TokenStoreKind::Keyring, Path::new(""));
        assert_eq!(s.get("acct").unwrap(), None);
        s.set("acct", "tok").unwrap();
        assert_eq!(s.get("acct").unwrap().as_deref(), Some("tok"));
        s.delete("acct").unwrap();
        assert_eq!(s.get("acct").unwrap(), None);
    }
}

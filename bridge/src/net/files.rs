//! Files that clients name (recordings: `.mjr`, the AudioBridge's WAV): never inside a
//! protected folder (Janus's `protected_folders`, on by default with the same list), so a
//! Janus API client cannot write over the system. The path is resolved as the kernel would
//! see it: relative to the working folder, symbolic links of the part that exists followed,
//! `..` applied, then compared folder by folder.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// Janus's sample list (`janus.jcfg`), which Janus ships enabled.
pub const DEFAULT_PROTECTED: [&str; 20] = [
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/initrd",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
    "/opt/janus/bin",
    "/opt/janus/etc",
    "/opt/janus/include",
    "/opt/janus/lib",
    "/opt/janus/lib32",
    "/opt/janus/lib64",
    "/opt/janus/sbin",
];

static PROTECTED: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Sets the protected folders from the configuration (`general.protected_folders`); the
/// first call wins, and without one the default list applies.
pub fn set_protected(folders: &[String]) {
    let _ = PROTECTED.set(folders.iter().map(PathBuf::from).collect());
}

fn protected() -> &'static [PathBuf] {
    PROTECTED.get_or_init(|| DEFAULT_PROTECTED.iter().map(PathBuf::from).collect())
}

/// `path` made absolute, with the symbolic links of its longest existing ancestor followed
/// and `.`/`..` applied to the rest.
fn resolve(path: &Path) -> Result<PathBuf, String> {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("the working folder: {e}"))?
            .join(path)
    };
    // The longest prefix that exists is resolved by the kernel, the rest by hand.
    let components: Vec<Component<'_>> = absolute.components().collect();
    let mut resolved = PathBuf::from("/");
    let mut rest = components.len();
    for n in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..n].iter().collect();
        if let Ok(real) = prefix.canonicalize() {
            resolved = real;
            rest = n;
            break;
        }
    }
    for c in &components[rest..] {
        match c {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => resolved.push(name),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(resolved)
}

/// The protected folder `path` would be written in, if any.
pub fn protected_folder_of(path: &Path, folders: &[PathBuf]) -> Result<Option<PathBuf>, String> {
    let resolved = resolve(path)?;
    Ok(folders.iter().find(|f| resolved.starts_with(f)).cloned())
}

/// Creates (or truncates) the file a client named, with its folders; refused inside a
/// protected folder.
pub fn create_file(path: &Path) -> Result<File, String> {
    if let Some(folder) = protected_folder_of(path, protected())? {
        return Err(format!(
            "{}: inside the protected folder {}",
            path.display(),
            folder.display()
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    File::create(path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<PathBuf> {
        DEFAULT_PROTECTED.iter().map(PathBuf::from).collect()
    }

    fn check(path: &str) -> Option<PathBuf> {
        protected_folder_of(Path::new(path), &defaults()).unwrap()
    }

    #[test]
    fn system_folders_are_refused_however_they_are_spelt() {
        assert_eq!(check("/etc/passwd"), Some("/etc".into()));
        assert_eq!(check("/tmp/../etc/x.mjr"), Some("/etc".into()));
        assert_eq!(check("/tmp/a/b/../../../usr/lib/x"), Some("/usr".into()));
        assert_eq!(check("/var/lib/recordings/new/x.mjr"), Some("/var".into()));
        assert_eq!(check("/opt/janus/etc/x"), Some("/opt/janus/etc".into()));
    }

    #[test]
    fn other_folders_are_allowed() {
        assert_eq!(check("/tmp/rec/x.mjr"), None);
        assert_eq!(check("/variable/x.mjr"), None, "compared folder by folder");
        assert_eq!(check("/opt/janus/share/recordings/x.mjr"), None);
        assert_eq!(protected_folder_of(Path::new("/etc/x"), &[]).unwrap(), None);
    }

    #[test]
    fn a_link_into_a_protected_folder_is_followed() {
        let dir = std::env::temp_dir().join(format!("cardea-protected-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("to-etc");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let through = link.join("new-file.mjr");
        assert_eq!(
            protected_folder_of(&through, &defaults()).unwrap(),
            Some("/etc".into())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

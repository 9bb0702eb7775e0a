//! The files the repository ships in `models/` (the int8 model and the face cascade), and
//! where to look for them when no path is given: so that `edge run --replay DIR` works from a
//! checkout with no config, and a bundle works wherever it is unpacked.

use std::path::{Path, PathBuf};

/// The shipped int8 emotion model, relative to a checkout or bundle root.
pub const MODEL: &str = "models/vigil-int8.onnx";
/// The shipped OpenCV frontal-face cascade, relative to a checkout or bundle root.
pub const CASCADE: &str = "models/haarcascade_frontalface_default.xml";

/// A shipped file that is in none of the places looked in.
#[derive(Debug, thiserror::Error)]
#[error("none given and the default is missing (looked for {}); pass {flag}", list(.tried))]
pub struct NotShipped {
    /// The places looked in, in order.
    pub tried: Vec<PathBuf>,
    /// The option that names the file instead.
    pub flag: String,
}

fn list(paths: &[PathBuf]) -> String {
    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    list.join(", ")
}

/// The first existing of: `relative` under the working directory, beside the executable,
/// and in the source checkout the binary was built from. `flag` names the option that
/// overrides it, for the error message.
pub fn find(relative: &str, flag: &str) -> Result<PathBuf, NotShipped> {
    let mut tried = vec![PathBuf::from(relative)];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        tried.push(dir.join(relative));
    }
    tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative));
    match tried.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(NotShipped {
            tried,
            flag: flag.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shipped_files_and_names_the_flag_otherwise() {
        assert!(find(MODEL, "--model").unwrap().is_file());
        assert!(find(CASCADE, "--cascade").unwrap().is_file());
        let err = find("models/nope.onnx", "--model").unwrap_err().to_string();
        assert!(
            err.contains("models/nope.onnx") && err.contains("pass --model"),
            "{err}"
        );
    }
}

//! Still images from disk as grey frames: what the host's dataset readers, `edge detect`,
//! `edge classify` and replays read, decoded one way for all of them.
//!
//! Every format the workspace's `image` build decodes (PNG, JPEG, TIFF, BMP, PNM) is accepted;
//! colour becomes grey with OpenCV's luma weights ([`shared::image::luma`]) so frames match
//! what OpenCV-based tools (and the golden face boxes) see. 8-bit palette TIFFs, which `image`
//! refuses and 23 of JAFFE's images are, go through [`shared::tiff_palette`]. Images over
//! [`MAX_PIXELS`] are refused before their pixels are converted.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use shared::GrayImage;

/// Largest image (in pixels) we agree to decode: guards against absurd headers.
pub const MAX_PIXELS: u64 = 100_000_000;

/// File extensions (lower case) taken as images when listing a directory.
pub const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "pgm", "pnm", "ppm"];

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`] (any case).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Why an image could not be loaded; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not an image we can decode.
    #[error("cannot decode {path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: DecodeError,
    },
}

/// Why image bytes could not be decoded to grey.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A palette TIFF that [`shared::tiff_palette`] refuses.
    #[error(transparent)]
    PaletteTiff(#[from] shared::tiff_palette::PaletteTiffError),
    /// The `image` crate cannot decode the bytes.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// Larger than [`MAX_PIXELS`].
    #[error("{width}x{height} exceeds the {MAX_PIXELS}-pixel limit")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The decoded pixels do not make a grey image.
    #[error(transparent)]
    Pixels(#[from] shared::image::ImageError),
}

/// Reads and decodes an image file to 8-bit grey.
pub fn load(path: &Path) -> Result<GrayImage, ImageFileError> {
    let bytes = std::fs::read(path).map_err(|source| ImageFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes).map_err(|source| ImageFileError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

/// Decodes image bytes (any supported format, or a palette TIFF) to 8-bit grey.
pub fn decode(bytes: &[u8]) -> Result<GrayImage, DecodeError> {
    if shared::tiff_palette::is_palette_tiff(bytes) {
        return Ok(shared::tiff_palette::decode_palette_tiff(bytes)?);
    }
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::IoError)?
        .decode()?;
    to_gray(img)
}

/// Converts a decoded image to grey: grey stays as it is (16-bit is scaled to 8), colour goes
/// through OpenCV's luma weights, alpha is ignored.
pub fn to_gray(img: DynamicImage) -> Result<GrayImage, DecodeError> {
    let (w, h) = (img.width(), img.height());
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(DecodeError::TooLarge { width: w, height: h });
    }
    let gray = match img {
        DynamicImage::ImageLuma8(g) => GrayImage::from_raw(w, h, g.into_raw()),
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => {
            GrayImage::from_raw(w, h, img.to_luma8().into_raw())
        }
        other => GrayImage::from_rgb(w, h, other.to_rgb8().as_raw()),
    };
    Ok(gray?)
}

#[cfg(test)]
mod tests {
    use shared::image::luma;

    use super::*;

    /// A little-endian 8-bit palette TIFF of one strip.
    fn encode_palette_tiff(w: u32, h: u32, indices: &[u8], map: &[u16; 768]) -> Vec<u8> {
        // Little-endian TIFF: header, pixel strip, colour map, then the directory.
        let mut out = b"II*\0".to_vec();
        out.extend(0u32.to_le_bytes());
        let strip_at = out.len() as u32;
        out.extend_from_slice(indices);
        let map_at = out.len() as u32;
        for v in map {
            out.extend(v.to_le_bytes());
        }
        let ifd = out.len() as u32;
        out[4..8].copy_from_slice(&ifd.to_le_bytes());
        let tags: [(u16, u16, u32, u32); 8] = [
            (256, 4, 1, w),
            (257, 4, 1, h),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 3),
            (273, 4, 1, strip_at),
            (279, 4, 1, indices.len() as u32),
            (320, 3, 768, map_at),
        ];
        out.extend((tags.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in tags {
            out.extend(tag.to_le_bytes());
            out.extend(kind.to_le_bytes());
            out.extend(count.to_le_bytes());
            out.extend(value.to_le_bytes());
        }
        out.extend(0u32.to_le_bytes());
        out
    }

    #[test]
    fn png_grey_and_colour_become_luma() {
        let dir = tempfile::tempdir().unwrap();
        let grey = dir.path().join("g.png");
        image::GrayImage::from_raw(2, 1, vec![7, 200])
            .unwrap()
            .save(&grey)
            .unwrap();
        assert_eq!(load(&grey).unwrap().pixels(), &[7, 200]);
        let rgb = dir.path().join("c.png");
        image::RgbImage::from_raw(2, 1, vec![255, 0, 0, 0, 0, 255])
            .unwrap()
            .save(&rgb)
            .unwrap();
        assert_eq!(load(&rgb).unwrap().pixels(), &[luma(255, 0, 0), luma(0, 0, 255)]);
    }

    #[test]
    fn palette_tiff_goes_through_its_colour_map() {
        let mut map = [0u16; 768];
        // Index 1 is pure red, index 2 pure blue, both as 16-bit entries.
        map[1] = 0xffff;
        map[512 + 2] = 0xff00;
        let bytes = encode_palette_tiff(3, 1, &[0, 1, 2], &map);
        let img = decode(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (3, 1));
        assert_eq!(img.pixels(), &[0, luma(255, 0, 0), luma(0, 0, 255)]);
        // Truncated strip data is an error, not a panic.
        let short = encode_palette_tiff(3, 2, &[0, 1, 2], &map);
        let e = decode(&short).unwrap_err();
        assert!(
            matches!(e, DecodeError::PaletteTiff(_)) && e.to_string().contains("expected 6"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.png");
        let e = load(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.png"), "{e}");
        let junk = dir.path().join("junk.tiff");
        std::fs::write(&junk, b"II*\0garbage").unwrap();
        let e = load(&junk).unwrap_err();
        assert!(
            matches!(e, ImageFileError::Decode { .. }) && e.to_string().contains("junk.tiff"),
            "{e}"
        );
    }
}

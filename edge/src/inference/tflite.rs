//! The TensorFlow Lite backend (feature `tflite`): runs a `.tflite` model through the
//! TensorFlow Lite C library (libtensorflowlite_c, via tflitec), for boards that already ship
//! that library or a model that only exists as `.tflite`.
//!
//! A `.tflite` model is trusted exactly like an ONNX one: the manifest beside it must match
//! its SHA-256, input shape and labels ([`super::manifest`]). The verified bytes are what
//! TensorFlow Lite runs (it is handed the buffer, not the path), so the file checked is the
//! file run. The interpreter is built and its tensors allocated once at load; a frame costs
//! one copy in (quantised first for an int8/uint8 input), one invoke and one copy out. The
//! tensor conventions (accepted shapes, quantisation, output -> probabilities) live in
//! [`super::tflite_io`], which every build compiles and tests.
//!
//! Building this needs a TensorFlow Lite C library for the target, its headers and libclang
//! (README, "TensorFlow Lite backend"); nothing here can be built offline, so CI cannot build
//! it.

use std::path::Path;

use shared::NUM_CLASSES;
use shared::wire::ModelManifest;
use tflitec::interpreter::Interpreter;
use tflitec::model::Model;
use tflitec::tensor::{DataType, Tensor};

use super::tflite_io::{Affine, QuantType, is_class_output_shape, is_face_input_shape, output_probabilities};
use super::{Classifier, InferenceError, check_input};

/// How the face is written into the input tensor.
enum InputEncoding {
    Float32,
    Int8(Affine, Vec<i8>),
    UInt8(Affine, Vec<u8>),
}

/// How the output tensor is read.
enum OutputDecoding {
    Float32,
    Quantized(Affine),
}

/// The model bytes and the TensorFlow Lite model made from them, at fixed heap addresses
/// for as long as the interpreter that borrows them lives.
///
/// tflitec ties `Interpreter<'a>` to a `&'a Model<'a>` borrowing the bytes, which cannot be
/// expressed in one owning struct; both are therefore boxed and turned into raw pointers
/// (moving a raw pointer asserts nothing about the allocation it points to), lent out as
/// `'static` only to the interpreter stored beside them, and freed here.
struct ModelStorage {
    bytes: *mut [u8],
    /// Null until the model has been created.
    model: *mut Model<'static>,
}

impl Drop for ModelStorage {
    fn drop(&mut self) {
        // SAFETY: both pointers come from `Box::into_raw` in `TfliteClassifier::from_bytes`
        // and are freed nowhere else. The only borrower, the interpreter, is dropped before
        // this: it is declared before `_storage` in `TfliteClassifier` (fields drop in
        // declaration order) and after it as a local in `from_bytes` (locals drop in reverse).
        // The model is freed before the bytes it borrows.
        unsafe {
            if !self.model.is_null() {
                drop(Box::from_raw(self.model));
            }
            drop(Box::from_raw(self.bytes));
        }
    }
}

/// A TensorFlow Lite interpreter for one verified model.
pub struct TfliteClassifier {
    // Must stay declared before `_storage`: it borrows the model and bytes held there.
    interpreter: Interpreter<'static>,
    /// Never read: it only keeps the model alive and frees it after the interpreter.
    _storage: ModelStorage,
    input: InputEncoding,
    output: OutputDecoding,
    manifest: ModelManifest,
    path: String,
}

fn data_type_name(ty: DataType) -> String {
    format!("{ty:?}").to_lowercase()
}

fn affine(tensor: &Tensor, ty: QuantType, what: &str) -> Result<Affine, String> {
    let q = tensor.quantization_parameters().ok_or_else(|| {
        format!(
            "{what} tensor `{}` is {} without per-tensor quantisation parameters",
            tensor.name(),
            data_type_name(tensor.data_type())
        )
    })?;
    Affine::new(ty, q.scale, q.zero_point).map_err(|e| format!("{what} tensor `{}`: {e}", tensor.name()))
}

impl TfliteClassifier {
    /// Loads a model after checking it against its manifest (see [`super::manifest`]).
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let (bytes, manifest) = artifacts::manifest::load_verified(path)?;
        let classifier = Self::from_bytes(path, bytes, manifest)?;
        tracing::info!(
            model = %path.display(),
            runtime = tflitec::tf_lite_version(),
            "TensorFlow Lite model loaded"
        );
        Ok(classifier)
    }

    /// Builds the interpreter from `.tflite` bytes; `path` is only used in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>, manifest: ModelManifest) -> Result<Self, InferenceError> {
        let path = path.display().to_string();
        let load = |reason: String| InferenceError::Load {
            path: path.clone(),
            reason,
        };
        let mut storage = ModelStorage {
            bytes: Box::into_raw(bytes.into_boxed_slice()),
            model: std::ptr::null_mut(),
        };
        // SAFETY: `storage.bytes` is a live allocation that `storage` frees only after the
        // model and interpreter borrowing it are gone (see `ModelStorage`); nothing writes it.
        let bytes: &'static [u8] = unsafe { &*storage.bytes };
        let model = Model::from_bytes(bytes)
            .map_err(|e| load(format!("TensorFlow Lite cannot read it as a .tflite model: {e}")))?;
        storage.model = Box::into_raw(Box::new(model));
        // SAFETY: as above; `storage.model` was just set from `Box::into_raw`.
        let model: &'static Model<'static> = unsafe { &*storage.model };
        let interpreter = Interpreter::new(model, None).map_err(|e| load(format!("TensorFlow Lite: {e}")))?;

        // tflitec's `input(i)` / `output(i)` compute `count - 1`: check the counts first.
        let (inputs, outputs) = (interpreter.input_tensor_count(), interpreter.output_tensor_count());
        if inputs != 1 || outputs != 1 {
            return Err(load(format!(
                "model has {inputs} input and {outputs} output tensors, expected one of each"
            )));
        }
        interpreter
            .allocate_tensors()
            .map_err(|e| load(format!("TensorFlow Lite: {e}")))?;

        let tensor = interpreter
            .input(0)
            .map_err(|e| load(format!("reading the input tensor: {e}")))?;
        let dims = tensor.shape().dimensions();
        if !is_face_input_shape(dims) {
            return Err(load(format!(
                "input tensor `{}` has shape {dims:?}, expected [1, 48, 48, 1] or [1, 1, 48, 48]",
                tensor.name()
            )));
        }
        let elements: usize = dims.iter().product();
        let input = match tensor.data_type() {
            DataType::Float32 => InputEncoding::Float32,
            DataType::Int8 => InputEncoding::Int8(
                affine(&tensor, QuantType::Int8, "input").map_err(load)?,
                vec![0; elements],
            ),
            DataType::UInt8 => InputEncoding::UInt8(
                affine(&tensor, QuantType::UInt8, "input").map_err(load)?,
                vec![0; elements],
            ),
            other => {
                return Err(load(format!(
                    "input tensor `{}` is {}, expected float32, int8 or uint8",
                    tensor.name(),
                    data_type_name(other)
                )));
            }
        };

        let tensor = interpreter
            .output(0)
            .map_err(|e| load(format!("reading the output tensor: {e}")))?;
        let dims = tensor.shape().dimensions();
        if !is_class_output_shape(dims) {
            return Err(load(format!(
                "output tensor `{}` has shape {dims:?}, expected {NUM_CLASSES} classes",
                tensor.name()
            )));
        }
        let output = match tensor.data_type() {
            DataType::Float32 => OutputDecoding::Float32,
            DataType::Int8 => OutputDecoding::Quantized(affine(&tensor, QuantType::Int8, "output").map_err(load)?),
            DataType::UInt8 => OutputDecoding::Quantized(affine(&tensor, QuantType::UInt8, "output").map_err(load)?),
            other => {
                return Err(load(format!(
                    "output tensor `{}` is {}, expected float32, int8 or uint8",
                    tensor.name(),
                    data_type_name(other)
                )));
            }
        };
        Ok(TfliteClassifier {
            interpreter,
            _storage: storage,
            input,
            output,
            manifest,
            path,
        })
    }

    /// The manifest the model was loaded with.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    fn backend(&self, what: &str, e: impl std::fmt::Display) -> InferenceError {
        InferenceError::Backend(format!("{}: {what}: {e}", self.path))
    }

    /// The model's output, dequantised, without any softmax.
    fn raw_output(&self) -> Result<(Vec<f32>, bool), InferenceError> {
        let tensor = self
            .interpreter
            .output(0)
            .map_err(|e| self.backend("reading the output", e))?;
        // The element types were checked at load, so `data::<T>` sees whole elements.
        Ok(match &self.output {
            OutputDecoding::Float32 => (tensor.data::<f32>().to_vec(), false),
            OutputDecoding::Quantized(q) => {
                let values = match q.ty() {
                    QuantType::Int8 => q.dequantize_i8(tensor.data::<i8>()),
                    QuantType::UInt8 => q.dequantize_u8(tensor.data::<u8>()),
                };
                (values, q.is_softmax_output())
            }
        })
    }
}

impl Classifier for TfliteClassifier {
    fn classify(&mut self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError> {
        check_input(input)?;
        let copied = match &mut self.input {
            InputEncoding::Float32 => self.interpreter.copy(input, 0),
            InputEncoding::Int8(q, buf) => {
                q.quantize_i8(input, buf);
                self.interpreter.copy(buf.as_slice(), 0)
            }
            InputEncoding::UInt8(q, buf) => {
                q.quantize_u8(input, buf);
                self.interpreter.copy(buf.as_slice(), 0)
            }
        };
        copied.map_err(|e| self.backend("copying the input", e))?;
        self.interpreter
            .invoke()
            .map_err(|e| self.backend("invoke failed", e))?;
        let (values, softmax_quantized) = self.raw_output()?;
        output_probabilities(&values, softmax_quantized, self.manifest.temperature)
            .map_err(|e| InferenceError::InvalidOutput(format!("{}: {e}", self.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the TensorFlow Lite C library at run time (see the README); with tflitec's
    /// bundled docs.rs copy: `LD_LIBRARY_PATH=<tflitec OUT_DIR> cargo test -p edge
    /// --features tflite --lib tflite`.
    #[test]
    fn garbage_bytes_are_a_load_error_naming_the_file() {
        let manifest = artifacts::manifest::for_tests();
        let err = TfliteClassifier::from_bytes(Path::new("bad.tflite"), b"not a flatbuffer".to_vec(), manifest)
            .err()
            .expect("garbage is refused");
        let text = err.to_string();
        assert!(matches!(err, InferenceError::Load { .. }), "{text}");
        assert!(
            text.contains("bad.tflite") && text.contains("cannot read it as a .tflite model"),
            "{text}"
        );
    }
}

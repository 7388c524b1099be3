"""What a trained network sees in one image: preprocessing, predictions, feature maps and CAMs.

    digit = prepare_digit(uploaded_bytes_or_canvas_array)       -> [1, 1, 28, 28] float in [0, 1]
    result = inspect_digit(model, digit)                        -> probabilities, class, maps per block
    heat = compute_cam(model, digit, block_index=0, method="gradcam")   -> [28, 28] in [0, 1]
    diff = compare_cams(model_a, model_b, digit, 0)              -> both CAMs and their difference

    upload.py     any picture to grey levels, hardened against hostile files
    layout.py     MNIST's layout of a digit (20x20 box, centre of mass at the centre); MNIST_SHAPE;
                  prepare_image(source, dataset): the layout of the checkpoint's dataset (Fashion-MNIST's too)
    gallery.py    the shipped sample of MNIST test digits (works offline)
    features.py   probabilities and per-block maps (model.forward_features)
    cams.py       class activation maps (pytorch_grad_cam; score_cam.py, eigen_cam.py adjust two methods)

Anything that is not a usable picture of a digit is a ConfigError with a one-line message.
"""
from .cams import (CAM_METHODS, CAM_STAGES, CamComparison, cam_difference, cam_on_ink, compare_cams,
                   compute_cam, load_cam_library)
from .features import DigitInspection, inspect_digit
from .gallery import GALLERY_PATH, Gallery, load_gallery
from .layout import MNIST_SHAPE, as_digit_tensor, prepare_digit, prepare_image
from .upload import MAX_FILE_BYTES, MAX_PIXELS, UPLOAD_FORMATS, to_gray

__all__ = ["CAM_METHODS", "CAM_STAGES", "CamComparison", "cam_difference", "cam_on_ink", "compare_cams",
           "compute_cam", "load_cam_library", "DigitInspection", "inspect_digit", "GALLERY_PATH", "Gallery",
           "load_gallery", "MNIST_SHAPE", "as_digit_tensor", "prepare_digit", "prepare_image", "MAX_FILE_BYTES", "MAX_PIXELS",
           "UPLOAD_FORMATS", "to_gray"]

from .detection import NotADetectorError, detection_test_pipeline, inference_detector
from .inference import inference_model, init_model, read_image

__all__ = ['init_model', 'inference_model', 'read_image', 'inference_detector', 'detection_test_pipeline',
           'NotADetectorError']

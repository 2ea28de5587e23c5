from .inference import inference_model, init_model, read_image

__all__ = ['init_model', 'inference_model', 'read_image']

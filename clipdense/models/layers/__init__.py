from .fp32_msdeformattn_pixel_decoder import FP32MSDeformAttnPixelDecoder

__all__ = ['FP32MSDeformAttnPixelDecoder']

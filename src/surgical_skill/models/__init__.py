"""Video models as transformers ``PreTrainedModel``s, registered with the Auto classes.

Families: the frame CNN, the CNN-RNN, the 3D CNNs (torchvision backbones or ``small3d``), X3D, Slow/SlowFast-R50
(PyTorchVideo's architectures and weights) and I3D live here;
VideoMAE, TimeSformer, ViViT and V-JEPA 2 are transformers' own classes, built through the same factory.
"""

from .backbones import BACKBONES_2D, BACKBONES_3D
from .cnn_rnn.configuration_cnn_rnn import CNNRNNConfig
from .cnn_rnn.modeling_cnn_rnn import CNNRNNForVideoClassification, CNNRNNModel, CNNRNNPreTrainedModel
from .configuration_base import SkillVideoConfig
from .factory import (
    FAMILIES,
    MODEL_REGISTRY,
    ModelSpec,
    build_model,
    build_video_processor,
    list_models,
    register_auto_classes,
)
from .frame_cnn.configuration_frame_cnn import FrameCNNConfig
from .frame_cnn.modeling_frame_cnn import FrameCNNForVideoClassification, FrameCNNModel, FrameCNNPreTrainedModel
from .i3d.configuration_i3d import I3DConfig
from .i3d.convert_i3d import convert_pytorch_i3d_state_dict
from .i3d.modeling_i3d import I3DForVideoClassification, I3DModel, I3DPreTrainedModel
from .inputs import (
    accepts_frame_mask,
    batch_model_inputs,
    clip_logits,
    is_regression_model,
    model_inputs,
    scores_from_logits,
    unwrap_model,
)
from .loading import check_device, check_model_source, load_trained_model, load_trained_video_processor
from .losses import PROBLEM_TYPES, infer_problem_type, skill_loss, skill_loss_terms
from .modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin
from .pooling import TEMPORAL_POOLING, TemporalPooling
from .slowfast.configuration_slowfast import SLOWFAST_BACKBONES, SLOWFAST_CHECKPOINT_URLS, SlowFastConfig
from .slowfast.convert_slowfast import convert_pytorchvideo_slowfast_state_dict
from .slowfast.modeling_slowfast import SlowFastForVideoClassification, SlowFastModel, SlowFastPreTrainedModel
from .video3d.configuration_video3d import VIDEO_BACKBONES, Video3DCNNConfig
from .video3d.modeling_video3d import Video3DCNNForVideoClassification, Video3DCNNModel, Video3DCNNPreTrainedModel
from .video_processor import SurgicalSkillVideoProcessor, add_sampling, record_training_fps
from .x3d.configuration_x3d import X3D_CHECKPOINT_URLS, X3D_PRESETS, X3DConfig
from .x3d.convert_x3d import convert_pytorchvideo_x3d_state_dict
from .x3d.modeling_x3d import X3DForVideoClassification, X3DModel, X3DPreTrainedModel

__all__ = [
    "BACKBONES_2D",
    "BACKBONES_3D",
    "FAMILIES",
    "MODEL_REGISTRY",
    "PROBLEM_TYPES",
    "SLOWFAST_BACKBONES",
    "SLOWFAST_CHECKPOINT_URLS",
    "TEMPORAL_POOLING",
    "VIDEO_BACKBONES",
    "X3D_CHECKPOINT_URLS",
    "X3D_PRESETS",
    "CNNRNNConfig",
    "CNNRNNForVideoClassification",
    "CNNRNNModel",
    "CNNRNNPreTrainedModel",
    "FrameCNNConfig",
    "FrameCNNForVideoClassification",
    "FrameCNNModel",
    "FrameCNNPreTrainedModel",
    "I3DConfig",
    "I3DForVideoClassification",
    "I3DModel",
    "I3DPreTrainedModel",
    "ModelSpec",
    "SkillPreTrainedModel",
    "SkillVideoClassificationMixin",
    "SkillVideoConfig",
    "SlowFastConfig",
    "SlowFastForVideoClassification",
    "SlowFastModel",
    "SlowFastPreTrainedModel",
    "SurgicalSkillVideoProcessor",
    "TemporalPooling",
    "Video3DCNNConfig",
    "Video3DCNNForVideoClassification",
    "Video3DCNNModel",
    "Video3DCNNPreTrainedModel",
    "X3DConfig",
    "X3DForVideoClassification",
    "X3DModel",
    "X3DPreTrainedModel",
    "accepts_frame_mask",
    "add_sampling",
    "batch_model_inputs",
    "build_model",
    "build_video_processor",
    "check_device",
    "check_model_source",
    "clip_logits",
    "convert_pytorch_i3d_state_dict",
    "convert_pytorchvideo_slowfast_state_dict",
    "convert_pytorchvideo_x3d_state_dict",
    "infer_problem_type",
    "is_regression_model",
    "list_models",
    "load_trained_model",
    "load_trained_video_processor",
    "model_inputs",
    "record_training_fps",
    "register_auto_classes",
    "scores_from_logits",
    "skill_loss",
    "skill_loss_terms",
    "unwrap_model",
]

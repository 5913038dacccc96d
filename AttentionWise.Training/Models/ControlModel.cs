using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>
/// The paper's VGG-like control network (SPEC §1) for any C×H×W input, built from <see cref="ModelSpec.Control"/>:
/// "features" = the control stack (<see cref="ModelSpec.ControlStages"/>), each convolution followed by a ReLU
/// ("conv1", "relu1", …, "conv6", "relu6"), then "classifier" = Linear(200·⌊H/4⌋·⌊W/4⌋ → classes). The output is
/// logits; the loss applies LogSoftmax and NLL. 929,510 parameters on 1×28×28, 961,310 on 3×32×32.
/// </summary>
public sealed class ControlModel : LayerStackModel
{
    public ControlModel(ComputeDevice device, int channels, int height, int width, int classes = 10)
        : base(device, Describe(channels, height, width, classes))
    {
        Channels = channels;
        Height = height;
        Width = width;
        Classes = classes;
        Features = Layer<Sequential>(0);
        Conv1 = (Conv2d)Features.Modules[0];
        Classifier = Layer<Linear>(1);
        // The first layer never needs an input gradient.
        Features.ComputeInputGradient = false;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }

    /// <summary>conv1 … relu6, in order (the classifier follows them).</summary>
    public Sequential Features { get; }

    /// <summary>The first convolution; its weight is the paper's "last gradients average" tensor.</summary>
    public Conv2d Conv1 { get; }

    public Linear Classifier { get; }

    private static ModelSpec Describe(int channels, int height, int width, int classes)
    {
        if (height < 4 || width < 4)
            throw new ArgumentOutOfRangeException(nameof(height), $"The control model needs images of at least 4×4 pixels, not {height}×{width}.");
        return ModelSpec.Control(channels, height, width, classes);
    }
}

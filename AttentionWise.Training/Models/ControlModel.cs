using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>
/// The paper's VGG-like control network (SPEC §1) for any C×H×W input:
/// conv1 (C→100, 3×3, pad 1) ReLU, conv2 (100→100, 3×3, pad 1) ReLU, conv3 (100→100, 2×2, stride 2, no bias) ReLU,
/// conv4 (100→200, 3×3, pad 1) ReLU, conv5 (200→200, 3×3, pad 1) ReLU, conv6 (200→200, 2×2, stride 2, no bias) ReLU,
/// then Linear(200·⌊H/4⌋·⌊W/4⌋ → classes). The output is logits; the loss applies LogSoftmax and NLL.
/// 929,510 parameters on 1×28×28, 961,310 on 3×32×32.
/// </summary>
public sealed class ControlModel : Module
{
    private readonly Sequential _body;

    public ControlModel(ComputeDevice device, int channels, int height, int width, int classes = 10)
        : base(device)
    {
        if (height < 4 || width < 4)
            throw new ArgumentOutOfRangeException(nameof(height), $"The control model needs images of at least 4×4 pixels, not {height}×{width}.");
        Channels = channels;
        Height = height;
        Width = width;
        Classes = classes;
        Conv1 = new Conv2d(device, channels, 100, 3, 1, 1);
        _body = AddModule("features", new Sequential(device));
        _body.Add(Conv1, "conv1").Add(new ReLU(device), "relu1")
            .Add(new Conv2d(device, 100, 100, 3, 1, 1), "conv2").Add(new ReLU(device), "relu2")
            .Add(new Conv2d(device, 100, 100, 2, 2, 0, bias: false), "conv3").Add(new ReLU(device), "relu3")
            .Add(new Conv2d(device, 100, 200, 3, 1, 1), "conv4").Add(new ReLU(device), "relu4")
            .Add(new Conv2d(device, 200, 200, 3, 1, 1), "conv5").Add(new ReLU(device), "relu5")
            .Add(new Conv2d(device, 200, 200, 2, 2, 0, bias: false), "conv6").Add(new ReLU(device), "relu6");
        var features = _body.OutputShape(Shape.Of(1, channels, height, width));
        Classifier = AddModule("classifier", new Linear(device, features.ItemLength, classes));
        // The first layer never needs an input gradient.
        _body.ComputeInputGradient = false;
        ComputeInputGradient = false;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }

    /// <summary>conv1 … relu6, in order (the classifier follows them).</summary>
    public Sequential Features => _body;

    /// <summary>The first convolution; its weight is the paper's "last gradients average" tensor.</summary>
    public Conv2d Conv1 { get; }

    public Linear Classifier { get; }

    public override Shape OutputShape(Shape input) => Classifier.OutputShape(_body.OutputShape(input));

    public override DeviceTensor Forward(DeviceTensor input) => Classifier.Forward(_body.Forward(input));

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        var g = Classifier.Backward(gradOutput) ?? throw new InvalidOperationException("The classifier returned no input gradient.");
        _body.ComputeInputGradient = ComputeInputGradient;
        return _body.Backward(g);
    }
}

using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>
/// DIA-Control (SPEC §3): the control model of SPEC §1 with one DIA shared-attention unit per stage, applied to
/// each conv's output before its ReLU. Stage 1 = conv1 (C→100, 3×3, pad 1), conv2 (100→100, 3×3, pad 1),
/// conv3 (100→100, 2×2, stride 2, no bias) with a unit of C = 100; stage 2 = conv4 (100→200), conv5 (200→200),
/// conv6 (200→200, 2×2, stride 2, no bias) with a unit of C = 200; then Linear(200·⌊H/4⌋·⌊W/4⌋ → classes).
/// Forward gives logits. 1,057,060 parameters on 1×28×28 (929,510 + 25,850 + 101,700).
/// Parameter names: "stage1.conv1.weight", …, "stage1.dia.ih1.weight", …, "stage2.conv4.weight", …, "classifier.weight".
/// </summary>
public sealed class DiaControlModel : Module
{
    public DiaControlModel(ComputeDevice device, int channels, int height, int width, int classes = 10, int reduction = 4)
        : base(device)
    {
        if (height < 4 || width < 4)
            throw new ArgumentOutOfRangeException(nameof(height), $"The DIA-control model needs images of at least 4×4 pixels, not {height}×{width}.");
        Channels = channels;
        Height = height;
        Width = width;
        Classes = classes;
        Conv1 = new Conv2d(device, channels, 100, 3, 1, 1);
        Stage1 = AddModule("stage1", new DiaStage(device, 100,
        [
            ("conv1", Conv1),
            ("conv2", new Conv2d(device, 100, 100, 3, 1, 1)),
            ("conv3", new Conv2d(device, 100, 100, 2, 2, 0, bias: false)),
        ], reduction));
        Stage2 = AddModule("stage2", new DiaStage(device, 200,
        [
            ("conv4", new Conv2d(device, 100, 200, 3, 1, 1)),
            ("conv5", new Conv2d(device, 200, 200, 3, 1, 1)),
            ("conv6", new Conv2d(device, 200, 200, 2, 2, 0, bias: false)),
        ], reduction));
        var features = Stage2.OutputShape(Stage1.OutputShape(Shape.Of(1, channels, height, width)));
        Classifier = AddModule("classifier", new Linear(device, features.ItemLength, classes));
        ComputeInputGradient = false;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }

    /// <summary>The first convolution; its weight is the paper's "last gradients average" tensor.</summary>
    public Conv2d Conv1 { get; }

    public DiaStage Stage1 { get; }
    public DiaStage Stage2 { get; }
    public Linear Classifier { get; }

    public override Shape OutputShape(Shape input) => Classifier.OutputShape(Stage2.OutputShape(Stage1.OutputShape(input)));

    public override DeviceTensor Forward(DeviceTensor input) => Classifier.Forward(Stage2.Forward(Stage1.Forward(input)));

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        var g = Classifier.Backward(gradOutput) ?? throw new InvalidOperationException("The classifier returned no input gradient.");
        g = Stage2.Backward(g) ?? throw new InvalidOperationException("Stage 2 returned no input gradient.");
        Stage1.ComputeInputGradient = ComputeInputGradient;
        return Stage1.Backward(g);
    }
}

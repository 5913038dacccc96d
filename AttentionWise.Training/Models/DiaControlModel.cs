using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>
/// DIA-Control (SPEC §3), built from <see cref="ModelSpec.DiaControl"/>: the control stack of SPEC §1
/// (<see cref="ModelSpec.ControlStages"/>) with one DIA shared-attention unit per stage, applied to each conv's output
/// before its ReLU. "stage1" = conv1, conv2, conv3 with a unit of C = 100; "stage2" = conv4, conv5, conv6 with a unit
/// of C = 200; then "classifier" = Linear(200·⌊H/4⌋·⌊W/4⌋ → classes). Forward gives logits.
/// 1,057,060 parameters on 1×28×28 (929,510 + 25,850 + 101,700).
/// Parameter names: "stage1.conv1.weight", …, "stage1.dia.ih1.weight", …, "stage2.conv4.weight", …, "classifier.weight".
/// </summary>
public sealed class DiaControlModel : LayerStackModel
{
    public DiaControlModel(ComputeDevice device, int channels, int height, int width, int classes = 10, int reduction = 4)
        : base(device, Describe(channels, height, width, classes, reduction))
    {
        Channels = channels;
        Height = height;
        Width = width;
        Classes = classes;
        Stage1 = Layer<DiaStage>(0);
        Stage2 = Layer<DiaStage>(1);
        Conv1 = (Conv2d)Stage1.Convs[0];
        Classifier = Layer<Linear>(2);
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

    private static ModelSpec Describe(int channels, int height, int width, int classes, int reduction)
    {
        if (height < 4 || width < 4)
            throw new ArgumentOutOfRangeException(nameof(height), $"The DIA-control model needs images of at least 4×4 pixels, not {height}×{width}.");
        return ModelSpec.DiaControl(channels, height, width, classes, reduction);
    }
}

namespace AttentionWise.Layers;

/// <summary>
/// The parameters of one DIA shared-attention unit (SPEC §3): the LSTM cell's two branches, each
/// Linear(C → C/r) → ReLU → Linear(C/r → 4C) with biases: "ih1", "ih2" (from the pooled features s) and
/// "hh1", "hh2" (from the previous h), PyTorch layout ("ih1.weight" [C/r, C], "ih2.weight" [4C, C/r], …).
/// Gate order in the 4C outputs: i, f, g, o. 2·(5C²/r + (4 + 1/r)·C) parameters at r | C.
/// The unit is applied by its <see cref="DiaStage"/>, which keeps the activations of every use; it has no
/// forward of its own.
/// </summary>
public sealed class DiaUnit : Module
{
    public DiaUnit(ComputeDevice device, int channels, int reduction = 4) : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(reduction);
        if (channels / reduction < 1)
            throw new ArgumentOutOfRangeException(nameof(reduction), $"A DIA unit of {channels} channels cannot have reduction ratio {reduction}: C/r would be 0.");
        Channels = channels;
        Reduction = reduction;
        Hidden = channels / reduction;
        Ih1Weight = AddParameter("ih1.weight", Shape.Of(Hidden, channels), ParameterInit.Normal);
        Ih1Bias = AddParameter("ih1.bias", Shape.Of(Hidden), ParameterInit.Zeros);
        Ih2Weight = AddParameter("ih2.weight", Shape.Of(4 * channels, Hidden), ParameterInit.Normal);
        Ih2Bias = AddParameter("ih2.bias", Shape.Of(4 * channels), ParameterInit.Zeros);
        Hh1Weight = AddParameter("hh1.weight", Shape.Of(Hidden, channels), ParameterInit.Normal);
        Hh1Bias = AddParameter("hh1.bias", Shape.Of(Hidden), ParameterInit.Zeros);
        Hh2Weight = AddParameter("hh2.weight", Shape.Of(4 * channels, Hidden), ParameterInit.Normal);
        Hh2Bias = AddParameter("hh2.bias", Shape.Of(4 * channels), ParameterInit.Zeros);
    }

    public int Channels { get; }
    public int Reduction { get; }

    /// <summary>Hidden units of each branch, C / r.</summary>
    public int Hidden { get; }

    public Parameter Ih1Weight { get; }
    public Parameter Ih1Bias { get; }
    public Parameter Ih2Weight { get; }
    public Parameter Ih2Bias { get; }
    public Parameter Hh1Weight { get; }
    public Parameter Hh1Bias { get; }
    public Parameter Hh2Weight { get; }
    public Parameter Hh2Bias { get; }

    /// <summary>2·(5C²/r + (4 + 1/r)·C) when r divides C: the count SPEC §3 gives.</summary>
    public static long ExpectedParameterCount(int channels, int reduction = 4)
    {
        long c = channels, h = channels / reduction;
        return 2 * (c * h + h + h * 4 * c + 4 * c);
    }

    public override Shape OutputShape(Shape input) =>
        throw new NotSupportedException("A DIA unit is applied by its DiaStage; it has no forward of its own.");

    public override DeviceTensor Forward(DeviceTensor input) =>
        throw new NotSupportedException("A DIA unit is applied by its DiaStage; it has no forward of its own.");

    public override DeviceTensor? Backward(DeviceTensor gradOutput) =>
        throw new NotSupportedException("A DIA unit is applied by its DiaStage; it has no backward of its own.");
}

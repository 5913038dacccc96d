using AttentionWise.Ops;

namespace AttentionWise.Layers;

/// <summary>
/// Batch normalisation over the N, H and W of an NCHW input, as PyTorch's nn.BatchNorm2d. Training mode
/// normalises with the batch statistics (biased variance) and updates the running statistics with
/// <c>running = (1 − momentum)·running + momentum·batch</c> (unbiased variance); evaluation mode normalises
/// with the running statistics. Parameters "weight" (ones) and "bias" (zeros) when affine; buffers
/// "running_mean" (zeros) and "running_var" (ones). Keeps its input for the backward pass, whose mode is
/// the one the forward pass ran in.
/// </summary>
public sealed class BatchNorm2d : Module
{
    private DeviceTensor? _output;
    private DeviceTensor? _gradInput;
    private DeviceTensor? _mean;
    private DeviceTensor? _variance;
    private DeviceTensor? _coef;
    private DeviceTensor? _backCoef;
    private DeviceTensor? _sumG;
    private DeviceTensor? _sumGx;
    private DeviceTensor? _workspace;
    private DeviceTensor? _input;
    private bool _forwardTraining;

    public BatchNorm2d(ComputeDevice device, int channels, bool affine = true, float momentum = 0.1f, float eps = 1e-5f)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        Channels = channels;
        Affine = affine;
        Momentum = momentum;
        Eps = eps;
        if (affine)
        {
            Weight = AddParameter("weight", Shape.Of(channels), ParameterInit.Ones);
            Bias = AddParameter("bias", Shape.Of(channels), ParameterInit.Zeros);
            Elementwise.Fill(Weight.Value, 1f);
            Bias.Value.Zero();
        }
        RunningMean = AddBuffer("running_mean", Shape.Of(channels));
        RunningVar = AddBuffer("running_var", Shape.Of(channels));
        Elementwise.Fill(RunningVar, 1f);
    }

    public int Channels { get; }
    public bool Affine { get; }
    public float Momentum { get; }
    public float Eps { get; }

    /// <summary>"weight" [C] (γ), or null when not affine.</summary>
    public Parameter? Weight { get; }

    /// <summary>"bias" [C] (β), or null when not affine.</summary>
    public Parameter? Bias { get; }

    /// <summary>Buffer "running_mean" [C], starts at 0.</summary>
    public DeviceTensor RunningMean { get; }

    /// <summary>Buffer "running_var" [C], starts at 1.</summary>
    public DeviceTensor RunningVar { get; }

    public override Shape OutputShape(Shape input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 4 || input.C != Channels)
            throw new ShapeMismatchException("BatchNorm2d input", Shape.Of(input.Rank >= 1 ? input[0] : 0, Channels, input.Rank == 4 ? input.H : 0, input.Rank == 4 ? input.W : 0), input);
        return input;
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = OutputShape(input.Shape);
        var op = Device.Backend.BatchNorm;
        var channels = Shape.Of(Channels);
        var mean = Scratch(ref _mean, channels);
        var variance = Scratch(ref _variance, channels);
        var coef = Scratch(ref _coef, Shape.Of(4 * Channels));
        long count = (long)shape.N * shape.H * shape.W;
        float unbias = 1f;
        if (Training)
        {
            if (count <= 1)
                throw new ArgumentException($"BatchNorm2d: training needs more than one value per channel, but the input is {shape}.", nameof(input));
            ChannelReductions.MeanVariance(input, mean, variance, Scratch(ref _workspace, Shape.Of(1)));
            unbias = (float)(count / (double)(count - 1));
        }
        var gamma = Weight?.Value ?? RunningVar;
        var beta = Bias?.Value ?? RunningVar;
        op.Coefficients(coef, RunningMean, RunningVar, mean, variance, gamma, beta, Pass(Training, unbias));

        var y = Scratch(ref _output, shape);
        op.Normalize(y, input, coef, Channels, shape.H * shape.W);
        _input = input;
        _forwardTraining = Training;
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (_input is null || _output is null || _coef is null)
            throw new InvalidOperationException("BatchNorm2d.Backward called before Forward.");
        var shape = _output.Shape;
        Shape.Require(shape, gradOutput.Shape, "BatchNorm2d.Backward gradient");
        var op = Device.Backend.BatchNorm;
        var channels = Shape.Of(Channels);
        var sumG = Scratch(ref _sumG, channels);
        var sumGx = Scratch(ref _sumGx, channels);
        var shift = _forwardTraining ? _mean! : RunningMean;
        bool needSums = _forwardTraining || Affine;
        if (needSums)
            ChannelReductions.SumAndCenteredDot(gradOutput, _input, shift, sumG, sumGx, accumulate: false, Scratch(ref _workspace, Shape.Of(1)));
        else
        {
            sumG.Zero();
            sumGx.Zero();
        }
        var back = Scratch(ref _backCoef, Shape.Of(4 * Channels));
        var gamma = Weight?.Value ?? sumG;
        var gradGamma = Weight?.Gradient ?? sumG;
        var gradBeta = Bias?.Gradient ?? sumG;
        float count = (float)((double)shape.N * shape.H * shape.W);
        op.BackwardCoefficients(back, gradGamma, gradBeta, _coef, sumG, sumGx, gamma, Pass(_forwardTraining, 1f), count);
        if (!ComputeInputGradient)
            return null;
        var gx = Scratch(ref _gradInput, shape);
        op.BackwardInput(gx, gradOutput, _input, back, Channels, shape.H * shape.W);
        return gx;
    }

    private BatchNormPass Pass(bool training, float unbias) => new(Channels, Affine, training, Momentum, Eps, unbias);
}

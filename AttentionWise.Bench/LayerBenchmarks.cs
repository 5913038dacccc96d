using System.Globalization;
using AttentionWise.Layers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AttentionWise.Bench;

/// <summary>
/// Forward and backward (input and parameter gradients together, as training runs them) of every layer of the models
/// at the shapes the models use, each at the paper's batch for its model scaled to what a 2-core CPU times in seconds:
/// the control model's layers (SPEC §1) at batch 256, the attention model's (SPEC §2) at batch 4096.
/// "attention-b.layer" and "attention-h.layer" are whole attention layers (heads, conv, skip, ReLU) of B and H.
/// The DIA unit has its own benchmark (<see cref="DiaBenchmarks"/>); whole training steps are in
/// <see cref="ControlStepBenchmarks"/> and <see cref="AttentionStepBenchmarks"/>.
/// `dotnet run -c Release --project AttentionWise.Bench -- --filter '*LayerBenchmarks*'` (or scripts/bench).
/// </summary>
[Config(typeof(Config))]
public class LayerBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private Module _layer = null!;
    private DeviceTensor _x = null!;
    private DeviceTensor _g = null!;

    /// <summary>The layer and the shape it sees in a model.</summary>
    [ParamsSource(nameof(Layers))]
    public string Layer { get; set; } = "control.conv1";

    public static IEnumerable<string> Layers =>
    [
        "control.conv1", "control.conv2", "control.conv3", "control.conv4", "control.conv5", "control.conv6",
        "control.relu2", "control.classifier",
        "attention-b.layer", "attention-h.layer", "attention-b.heads", "attention-h.heads", "attention-b.conv", "attention-h.conv", "attention-a.bn", "attention-b.classifier",
    ];

    /// <summary>Builds a layer and its input shape: (module, input shape, whether the model asks for its input gradient).</summary>
    public static (Module Layer, Shape Input, bool InputGradient) Build(ComputeDevice device, string layer) => layer switch
    {
        "control.conv1" => (new Conv2d(device, 1, 100, 3, 1, 1), Shape.Of(256, 1, 28, 28), false),
        "control.conv2" => (new Conv2d(device, 100, 100, 3, 1, 1), Shape.Of(256, 100, 28, 28), true),
        "control.conv3" => (new Conv2d(device, 100, 100, 2, 2, 0, bias: false), Shape.Of(256, 100, 28, 28), true),
        "control.conv4" => (new Conv2d(device, 100, 200, 3, 1, 1), Shape.Of(256, 100, 14, 14), true),
        "control.conv5" => (new Conv2d(device, 200, 200, 3, 1, 1), Shape.Of(256, 200, 14, 14), true),
        "control.conv6" => (new Conv2d(device, 200, 200, 2, 2, 0, bias: false), Shape.Of(256, 200, 14, 14), true),
        "control.relu2" => (new ReLU(device), Shape.Of(256, 100, 28, 28), true),
        "control.classifier" => (new Linear(device, 200 * 7 * 7, 10), Shape.Of(256, 200, 7, 7), true),
        "attention-b.layer" => (WholeLayer(device, "B"), Shape.Of(4096, 1, 28, 28), true),
        "attention-h.layer" => (WholeLayer(device, "H"), Shape.Of(4096, 1, 28, 28), true),
        "attention-b.heads" => (new AttentionHeads(device, 1, 28, 28, 8), Shape.Of(4096, 1, 28, 28), true),
        "attention-h.heads" => (new AttentionHeads(device, 1, 28, 28, 16), Shape.Of(4096, 1, 28, 28), true),
        "attention-b.conv" => (new Conv2d(device, 8, 1, 3, 1, 1), Shape.Of(4096, 8, 28, 28), true),
        "attention-h.conv" => (new Conv2d(device, 16, 1, 3, 1, 1), Shape.Of(4096, 16, 28, 28), true),
        "attention-a.bn" => (new BatchNorm2d(device, 1), Shape.Of(4096, 1, 28, 28), true),
        "attention-b.classifier" => (new Linear(device, 28 * 28, 10), Shape.Of(4096, 1, 28, 28), true),
        _ => throw new ArgumentException($"Unknown layer '{layer}'. Known: {string.Join(", ", Layers)}."),
    };

    private static AttentionLayer WholeLayer(ComputeDevice device, string configuration)
    {
        var o = AttentionConfigurations.Options(configuration);
        return new AttentionLayer(device, o.Channels, o.Height, o.Width, o.Heads, o.PostConvBatchNorm, o.Skip, o.HeadBias);
    }

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        var (layer, input, inputGradient) = Build(_device, Layer);
        _layer = layer;
        _layer.ComputeInputGradient = inputGradient;
        Init.Apply(_layer, new Rng(1));
        // Layers that see the images get Fashion-MNIST; deeper ones get seeded random activations.
        var x = input.C == 1 && input.H == 28 ? BenchData.FashionMnist(input.N).Images : QuickTiming.Random(input.Length, 2);
        _x = _device.Upload(input, x);
        var output = _layer.Forward(_x);
        _g = _device.Upload(output.Shape, QuickTiming.Random(output.Shape.Length, 3));
        _layer.Backward(_g);
        _device.Synchronize();
    }

    [Benchmark]
    public void Forward()
    {
        _layer.Forward(_x);
        _device.Synchronize();
    }

    /// <summary>Backward after a forward (not timed here): input gradient where the model needs it, and the
    /// parameter gradients.</summary>
    [Benchmark]
    public void Backward()
    {
        _layer.Backward(_g);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _x?.Dispose();
        _g?.Dispose();
        _layer?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RateColumn("images/s", c => ((string)c.Parameters["Layer"]).StartsWith("control.", StringComparison.Ordinal) ? 256 : 4096));
        }
    }
}

/// <summary>
/// The loss (log-softmax + NLL, forward with its two-float result, and backward) at batch 4096, and one Adam step over
/// the parameters of the control model (929,510) and of configuration H (108,494 in flat buffers as the model holds them).
/// </summary>
public class LossAndAdamBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private LogSoftmaxNllLoss _loss = null!;
    private DeviceTensor _logits = null!;
    private DeviceIntTensor _labels = null!;
    private Module _model = null!;
    private Adam _adam = null!;

    [Params("control", "attention-h")]
    public string Parameters { get; set; } = "control";

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        _loss = new LogSoftmaxNllLoss(_device);
        _logits = _device.Upload(Shape.Of(4096, 10), QuickTiming.Random(4096 * 10, 4));
        var (_, labels, _) = BenchData.FashionMnist(4096);
        _labels = DeviceIntTensor.Upload(_device, labels);
        _model = Parameters == "control"
            ? new Training.Models.ControlModel(_device, 1, 28, 28)
            : new Training.Models.AttentionModel(_device, AttentionConfigurations.Options("H"));
        Init.Apply(_model, new Rng(1));
        _adam = new Adam(_device, _model.NamedParameters());
        foreach (var (_, p) in _model.NamedParameters())
            p.Gradient.Upload(QuickTiming.Random(p.Length, 5));
    }

    [Benchmark]
    public float Loss()
    {
        _loss.Forward(_logits, _labels);
        float value = _loss.Result().Loss;
        _loss.Backward();
        _device.Synchronize();
        return value;
    }

    [Benchmark]
    public void AdamStep()
    {
        _adam.Step();
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _logits?.Dispose();
        _labels?.Dispose();
        _loss?.Dispose();
        _adam?.Dispose();
        _model?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{nameof(LossAndAdamBenchmarks)}({Parameters})");
}

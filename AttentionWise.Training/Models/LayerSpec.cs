using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>The per-image shape of a feature map, C×H×W (a flattened vector of F features is F×1×1).</summary>
public readonly record struct FeatureShape(int Channels, int Height, int Width)
{
    /// <summary>Values per image, C·H·W.</summary>
    public long Length => (long)Channels * Height * Width;

    public override string ToString() => $"{Channels}×{Height}×{Width}";
}

/// <summary>A tensor a layer holds, for the footprint: what it is and how many values it has.</summary>
public readonly record struct HeldTensor(string Name, double Values);

/// <summary>
/// One layer of a model's description (<see cref="ModelSpec"/>): from it the layer is built on a device, and its output
/// shape, parameter count and the activations it holds are derived without building it. <see cref="Name"/> is the
/// layer's child name in the built model (its parameters read "<c>{Name}.weight</c>", …).
/// </summary>
public abstract record LayerSpec(string Name)
{
    /// <summary>The per-image shape of the layer's output for <paramref name="input"/>.</summary>
    public abstract FeatureShape OutputShape(FeatureShape input);

    /// <summary>The values of the layer's parameters (weights, biases) for <paramref name="input"/>.</summary>
    public abstract long ParameterCount(FeatureShape input);

    /// <summary>The activations the layer certainly keeps from its forward pass over <paramref name="images"/> images
    /// (a lower bound of its activation memory); <paramref name="path"/> is its name inside the model.</summary>
    public virtual IEnumerable<HeldTensor> Activations(FeatureShape input, double images, string path) => [];

    /// <summary>The layer's largest parameter tensors (candidates for the model's largest tensor).</summary>
    public virtual IEnumerable<HeldTensor> Weights(FeatureShape input, string path) => [];

    /// <summary>Builds the layer on <paramref name="device"/> for <paramref name="input"/> (parameters uninitialised).</summary>
    public abstract Module Build(ComputeDevice device, FeatureShape input);
}

/// <summary>A square convolution (<see cref="Conv2d"/>) from the input's channels to <paramref name="OutChannels"/>.</summary>
public sealed record ConvSpec(string Name, int OutChannels, int Kernel, int Stride = 1, int Padding = 0, bool Bias = true) : LayerSpec(Name)
{
    /// <summary>Weights Cout·Cin·k·k, plus Cout biases.</summary>
    public static long Parameters(long inChannels, long outChannels, int kernel, bool bias) =>
        outChannels * inChannels * kernel * kernel + (bias ? outChannels : 0);

    public override FeatureShape OutputShape(FeatureShape input) => new(OutChannels,
        (input.Height + 2 * Padding - Kernel) / Stride + 1, (input.Width + 2 * Padding - Kernel) / Stride + 1);

    public override long ParameterCount(FeatureShape input) => Parameters(input.Channels, OutChannels, Kernel, Bias);

    public override IEnumerable<HeldTensor> Activations(FeatureShape input, double images, string path) =>
        [new($"{path}'s output", images * OutputShape(input).Length)];

    public override IEnumerable<HeldTensor> Weights(FeatureShape input, string path) =>
        [new($"{path}'s weight", (double)OutChannels * input.Channels * Kernel * Kernel)];

    public override Module Build(ComputeDevice device, FeatureShape input) =>
        new Conv2d(device, input.Channels, OutChannels, Kernel, Stride, Padding, bias: Bias);
}

/// <summary>An element-wise ReLU (<see cref="ReLU"/>).</summary>
public sealed record ReluSpec(string Name) : LayerSpec(Name)
{
    public override FeatureShape OutputShape(FeatureShape input) => input;

    public override long ParameterCount(FeatureShape input) => 0;

    public override IEnumerable<HeldTensor> Activations(FeatureShape input, double images, string path) =>
        [new($"{path}'s output", images * input.Length)];

    public override Module Build(ComputeDevice device, FeatureShape input) => new ReLU(device);
}

/// <summary>A dense layer (<see cref="Linear"/>) over the flattened input, C·H·W → <paramref name="OutFeatures"/>, with
/// biases. Its [N, out] output is small and not counted in the footprint.</summary>
public sealed record LinearSpec(string Name, int OutFeatures) : LayerSpec(Name)
{
    public override FeatureShape OutputShape(FeatureShape input) => new(OutFeatures, 1, 1);

    public override long ParameterCount(FeatureShape input) => OutFeatures * input.Length + OutFeatures;

    public override IEnumerable<HeldTensor> Weights(FeatureShape input, string path) =>
        [new($"{path}'s weight", (double)OutFeatures * input.Length)];

    public override Module Build(ComputeDevice device, FeatureShape input) =>
        new Linear(device, checked((int)input.Length), OutFeatures);
}

/// <summary>
/// One element-wise attention layer (<see cref="AttentionLayer"/>, SPEC §2) of the input's shape: K heads (weights Wx,
/// Wy of K·C·H·W values each, and as many biases Bx, By with <paramref name="HeadBias"/>), the convolution K·C → C (3×3,
/// padding 1, bias), and the optional affine post-conv batchnorm (2C). The footprint counts the heads' row and column
/// softmaxes [2, N, K·C, H, W] and their output [N, K·C, H, W].
/// </summary>
public sealed record AttentionLayerSpec(string Name, int Heads, bool PostConvBatchNorm, bool Skip = true, bool HeadBias = false) : LayerSpec(Name)
{
    public override FeatureShape OutputShape(FeatureShape input) => input;

    public override long ParameterCount(FeatureShape input)
    {
        long heads = 2L * Heads * input.Length * (HeadBias ? 2 : 1);
        long conv = ConvSpec.Parameters((long)Heads * input.Channels, input.Channels, 3, bias: true);
        return heads + conv + (PostConvBatchNorm ? 2L * input.Channels : 0);
    }

    public override IEnumerable<HeldTensor> Activations(FeatureShape input, double images, string path) =>
    [
        new("one attention layer's softmax buffer", 2 * images * Heads * (double)input.Length),
        new("one attention layer's head outputs", images * Heads * (double)input.Length),
    ];

    public override IEnumerable<HeldTensor> Weights(FeatureShape input, string path) =>
        [new("one layer's head weights", (double)Heads * input.Length)];

    public override Module Build(ComputeDevice device, FeatureShape input) =>
        new AttentionLayer(device, input.Channels, input.Height, input.Width, Heads, PostConvBatchNorm, Skip, HeadBias);
}

/// <summary>Layers run in order (<see cref="Sequential"/>), each under its own name.</summary>
public sealed record SequenceSpec(string Name, IReadOnlyList<LayerSpec> Layers) : LayerSpec(Name)
{
    public bool Equals(SequenceSpec? other) =>
        other is not null && Name == other.Name && Layers.SequenceEqual(other.Layers);

    public override int GetHashCode() => HashCode.Combine(Name, Layers.Count);

    public override FeatureShape OutputShape(FeatureShape input) => Layers.Aggregate(input, (s, l) => l.OutputShape(s));

    public override long ParameterCount(FeatureShape input) => Each(input).Sum(x => x.Layer.ParameterCount(x.Input));

    public override IEnumerable<HeldTensor> Activations(FeatureShape input, double images, string path) =>
        Each(input).SelectMany(x => x.Layer.Activations(x.Input, images, $"{path}.{x.Layer.Name}"));

    public override IEnumerable<HeldTensor> Weights(FeatureShape input, string path) =>
        Each(input).SelectMany(x => x.Layer.Weights(x.Input, $"{path}.{x.Layer.Name}"));

    public override Module Build(ComputeDevice device, FeatureShape input)
    {
        var sequential = new Sequential(device);
        foreach (var (layer, s) in Each(input))
            sequential.Add(layer.Build(device, s), layer.Name);
        return sequential;
    }

    /// <summary>Each layer with its input shape.</summary>
    public IEnumerable<(LayerSpec Layer, FeatureShape Input)> Each(FeatureShape input)
    {
        foreach (var layer in Layers)
        {
            yield return (layer, input);
            input = layer.OutputShape(input);
        }
    }
}

/// <summary>
/// A backbone stage with one DIA shared-attention unit (<see cref="DiaStage"/>, SPEC §3): its convolutions, each
/// followed by the unit's mask and a ReLU, all with the unit's C output channels; the unit (<see cref="DiaUnit"/>) has
/// reduction ratio <paramref name="Reduction"/>. The footprint counts each convolution's output and each masked output.
/// </summary>
public sealed record DiaStageSpec(string Name, IReadOnlyList<ConvSpec> Convs, int Reduction = 4) : LayerSpec(Name)
{
    public bool Equals(DiaStageSpec? other) =>
        other is not null && Name == other.Name && Reduction == other.Reduction && Convs.SequenceEqual(other.Convs);

    public override int GetHashCode() => HashCode.Combine(Name, Reduction, Convs.Count);

    /// <summary>The unit's C: the channels every convolution of the stage outputs.</summary>
    public int Channels => Convs[^1].OutChannels;

    public override FeatureShape OutputShape(FeatureShape input) => Convs.Aggregate(input, (s, c) => c.OutputShape(s));

    public override long ParameterCount(FeatureShape input) =>
        Each(input).Sum(x => x.Conv.ParameterCount(x.Input)) + DiaUnit.ExpectedParameterCount(Channels, Reduction);

    public override IEnumerable<HeldTensor> Activations(FeatureShape input, double images, string path) =>
        Each(input).SelectMany(x => x.Conv.Activations(x.Input, images, $"{path}.{x.Conv.Name}")
            .Append(new($"{path}'s masked output of {x.Conv.Name}", images * x.Conv.OutputShape(x.Input).Length)));

    public override IEnumerable<HeldTensor> Weights(FeatureShape input, string path) =>
        Each(input).SelectMany(x => x.Conv.Weights(x.Input, $"{path}.{x.Conv.Name}"));

    public override Module Build(ComputeDevice device, FeatureShape input) =>
        new DiaStage(device, Channels, Each(input).Select(x => (x.Conv.Name, x.Conv.Build(device, x.Input))).ToList(), Reduction);

    private IEnumerable<(ConvSpec Conv, FeatureShape Input)> Each(FeatureShape input)
    {
        foreach (var conv in Convs)
        {
            yield return (conv, input);
            input = conv.OutputShape(input);
        }
    }
}

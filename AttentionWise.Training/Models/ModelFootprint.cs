using System.Globalization;

namespace AttentionWise.Training.Models;

/// <summary>
/// Lower bounds of the device memory a model needs, derived from its description (<see cref="ModelSpec"/>) before
/// anything is allocated: its parameters (with their gradients, and Adam's two moments when training), the activations
/// its layers certainly keep (<see cref="LayerSpec.Activations"/>: each attention layer's softmax buffer and head
/// outputs; every convolution's and ReLU's output, and each DIA stage's masked outputs, in the control models), and the
/// data sets uploaded to the device. A model is refused when this bound exceeds the
/// device's memory, or when one of its tensors would hold more values than a device tensor can (2³¹ − 1), so that
/// a hopeless configuration ends with a message instead of an allocation failure after gigabytes.
/// </summary>
public sealed record ModelFootprint
{
    /// <summary>The most values one device tensor holds (its shape's length is an int).</summary>
    public const long MaxTensorValues = int.MaxValue;

    public required ModelConfig Config { get; init; }
    public required int ImagesPerPass { get; init; }
    public required bool Training { get; init; }
    public required double Parameters { get; init; }
    public required double ParameterBytes { get; init; }
    public required double ActivationBytes { get; init; }
    public double DataBytes { get; init; }

    /// <summary>Values of the largest single tensor, and what it is.</summary>
    public required double LargestTensor { get; init; }
    public required string LargestTensorName { get; init; }

    public double TotalBytes => ParameterBytes + ActivationBytes + DataBytes;

    /// <summary>The footprint of <paramref name="config"/> training (or evaluating) <paramref name="imagesPerPass"/> images at once.</summary>
    public static ModelFootprint Of(ModelConfig config, int imagesPerPass, bool training)
    {
        ArgumentNullException.ThrowIfNull(config);
        double n = Math.Max(0, imagesPerPass);
        var spec = Describe(config);
        double parameters = spec.ParameterCount;
        var activations = spec.Activations(n).ToList();
        var (largest, largestName) = Max([.. activations, .. spec.Weights()]);
        return new ModelFootprint
        {
            Config = config,
            ImagesPerPass = imagesPerPass,
            Training = training,
            Parameters = parameters,
            // Value and gradient of every parameter; Adam's first and second moments when training.
            ParameterBytes = parameters * 4 * (training ? 4 : 2),
            ActivationBytes = activations.Sum(t => t.Values) * 4,
            LargestTensor = largest,
            LargestTensorName = largestName,
        };
    }

    /// <summary>The footprint with a data set uploaded too (<paramref name="values"/> floats in one tensor).</summary>
    public ModelFootprint WithData(string what, double values)
    {
        var (largest, name) = Max(new(LargestTensorName, LargestTensor), new(what, values));
        return this with { DataBytes = DataBytes + 4 * values, LargestTensor = largest, LargestTensorName = name };
    }

    /// <summary>The bytes a device can still give: its memory (on a CPU device, at most what this process may use)
    /// less what its tensors hold now.</summary>
    public static long AvailableBytes(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        long memory = device.Info.MemoryBytes > 0 ? device.Info.MemoryBytes : long.MaxValue;
        if (device.Kind == DeviceKind.Cpu)
        {
            long host = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (host > 0)
                memory = Math.Min(memory, host);
        }
        return Math.Max(0, memory - device.AllocatedBytes);
    }

    /// <summary>Throws <see cref="ModelTooLargeException"/> unless the footprint fits <paramref name="device"/>.</summary>
    public void Require(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Check(AvailableBytes(device), device.Name, partlyUsed: device.AllocatedBytes > 0);
    }

    /// <summary>Throws <see cref="ModelTooLargeException"/> unless the footprint fits <paramref name="availableBytes"/> and
    /// every tensor fits one device tensor.</summary>
    public void Check(long availableBytes, string deviceName, bool partlyUsed = false)
    {
        bool tensorTooLarge = LargestTensor > MaxTensorValues;
        if (!tensorTooLarge && TotalBytes <= availableBytes)
            return;
        string pass = ImagesPerPass > 0 ? I($" for {ImagesPerPass:N0} images per pass") : "";
        string parts = I($"{Size(ParameterBytes)} for its {Parameters:N0} parameters ") +
                       (Training ? "with their gradients and Adam's moments" : "and their gradients") +
                       (ActivationBytes > 0 ? $", {Size(ActivationBytes)} of activations" : "") +
                       (DataBytes > 0 ? $", {Size(DataBytes)} for the data sets" : "");
        string why = tensorTooLarge
            ? I($"its largest tensor ({LargestTensorName}) would hold {LargestTensor:N0} values, more than the {MaxTensorValues:N0} one device tensor can hold")
            : $"the device {deviceName} has {Size(availableBytes)}{(partlyUsed ? " free" : "")}";
        string hint = ImagesPerPass > 1 ? "; a smaller batch (or micro-batch) or a smaller model fits better" : "; a smaller model fits better";
        throw new ModelTooLargeException(
            $"{Config} needs at least {Size(TotalBytes)} of device memory{pass} ({parts}), but {why}. Nothing was allocated{hint}.",
            TotalBytes >= long.MaxValue ? long.MaxValue : (long)TotalBytes);
    }

    private static (double Values, string Name) Max(params HeldTensor[] candidates)
    {
        var largest = candidates.MaxBy(x => x.Values);
        return (largest.Values, largest.Name);
    }

    /// <summary>The description of the model (a name the registry does not know is counted as the control model).</summary>
    private static ModelSpec Describe(ModelConfig config)
    {
        var entry = ModelRegistry.Entries.FirstOrDefault(e => e.Name == config.Name);
        return entry?.Family switch
        {
            ModelFamily.Attention when config.Attention is { } a => ModelSpec.Attention(AttentionModelOptions.Of(config, a)),
            ModelFamily.DiaControl => ModelSpec.DiaControl(config.Channels, config.Height, config.Width, config.Classes),
            _ => ModelSpec.Control(config.Channels, config.Height, config.Width, config.Classes),
        };
    }

    private static string Size(double bytes) => bytes >= 1 << 30
        ? I($"{bytes / (1 << 30):N1} GiB")
        : I($"{bytes / (1 << 20):N1} MiB");

    private static string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

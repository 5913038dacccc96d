using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Layers;

/// <summary>
/// The Adam optimiser exactly as PyTorch's torch.optim.Adam (no weight decay, no amsgrad):
/// m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²; p −= (lr / (1 − β1^t))·m / (sqrt(v) / sqrt(1 − β2^t) + eps).
/// Moments start at zero. Each parameter's learning rate is that of its <see cref="Parameter.Group"/> in
/// <c>groupLearningRates</c>, or <c>lr</c> for groups not listed.
/// </summary>
public sealed class Adam : IDisposable
{
    private readonly ComputeDevice _device;
    private readonly List<(string Name, Parameter Parameter, DeviceTensor M, DeviceTensor V)> _entries = new();
    private readonly Dictionary<string, float> _groupRates;
    private bool _disposed;

    public Adam(ComputeDevice device, IEnumerable<(string Name, Parameter Parameter)> parameters, float lr = 1e-3f,
        float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f,
        IReadOnlyDictionary<string, float>? groupLearningRates = null)
    {
        _device = device ?? throw new ArgumentNullException(nameof(device));
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(lr >= 0f))
            throw new ArgumentOutOfRangeException(nameof(lr), lr, "The learning rate must be ≥ 0.");
        if (!(beta1 >= 0f && beta1 < 1f))
            throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "β1 must be in [0, 1).");
        if (!(beta2 >= 0f && beta2 < 1f))
            throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "β2 must be in [0, 1).");
        if (!(eps >= 0f))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be ≥ 0.");
        LearningRate = lr;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        _groupRates = groupLearningRates is null ? new() : new Dictionary<string, float>(groupLearningRates);
        var names = new HashSet<string>();
        foreach (var (name, p) in parameters)
        {
            ArgumentNullException.ThrowIfNull(p);
            if (!names.Add(name))
                throw new ArgumentException($"Adam: the parameter name '{name}' appears twice.", nameof(parameters));
            _entries.Add((name, p, device.Zeros(p.Shape), device.Zeros(p.Shape)));
        }
        State = _entries.Select(e => (e.Name, e.M, e.V)).ToList();
    }

    /// <summary>The default learning rate (groups not in the dictionary).</summary>
    public float LearningRate { get; }
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }

    /// <summary>Steps taken so far (t − 1 before the next step); settable to resume from a checkpoint.</summary>
    public long StepCount { get; set; }

    /// <summary>First and second moments by parameter name, in the order the parameters were given.</summary>
    public IReadOnlyList<(string Name, DeviceTensor M, DeviceTensor V)> State { get; }

    /// <summary>The learning rate of a parameter group.</summary>
    public float LearningRateOf(string group) =>
        _groupRates.TryGetValue(group ?? throw new ArgumentNullException(nameof(group)), out float lr) ? lr : LearningRate;

    /// <summary>Updates every parameter from its gradient (a kernel per parameter tensor on the cpu device, up to four
    /// tensors a kernel on GPU-shaped devices) and increments
    /// <see cref="StepCount"/>.</summary>
    public void Step()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long t = StepCount + 1;
        // As PyTorch, which holds the betas as Python floats: take the shortest decimal of each float (0.9f → 0.9).
        double bc1 = 1.0 - Math.Pow(AsDecimalDouble(Beta1), t);
        double bc2 = 1.0 - Math.Pow(AsDecimalDouble(Beta2), t);
        float sqrtBc2 = (float)Math.Sqrt(bc2);
        var tensors = new List<AdamTensors>(_entries.Count);
        foreach (var (_, p, m, v) in _entries)
        {
            double lr = AsDecimalDouble(LearningRateOf(p.Group));
            tensors.Add(new AdamTensors(p.Value, m, v, p.Gradient, (float)(lr / bc1)));
        }
        _device.Backend.AdamUpdate.Step(tensors, new AdamScalars(Beta1, Beta2, Eps, 0f, sqrtBc2));
        StepCount = t;
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.Backend.AdamUpdate.ZeroGradients(_entries.Select(e => e.Parameter.Gradient).ToList());
    }

    private static double AsDecimalDouble(float value) =>
        double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var (_, _, m, v) in _entries)
        {
            m.Dispose();
            v.Dispose();
        }
    }
}

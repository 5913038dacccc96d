using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>
/// The attention heads as the per-row kernels (HeadRowKernels, HeadNormKernels), closed with the family's kernel view:
/// the cpu device runs exactly this with its host passes off; <see cref="GpuAttentionHeads"/> replaces the steps it has
/// plane kernels and group reductions for. Sums over images run in fixed blocks, in block order, so that results do not
/// depend on the thread count.
/// </summary>
internal class KernelAttentionHeads<TView> : IAttentionHeads
    where TView : struct, IKernelView<TView>
{
    private readonly ScratchTensors _scratch;
    private DeviceTensor? _oxy, _wp, _aux, _partial, _pw;
    private DeviceTensor? _input, _z;
    private HeadNorm _norm;
    private bool _forwardTraining;

    /// <param name="blockImages">Images per block of the backward pass's fixed-order weight-gradient sums.</param>
    /// <param name="sumImages">Images per partial sum of the head batchnorm's statistics.</param>
    public KernelAttentionHeads(ComputeDevice device, HeadsGeometry geometry, int blockImages, int sumImages)
    {
        Device = device;
        _scratch = new ScratchTensors(device);
        Geometry = geometry;
        BlockImages = blockImages;
        SumImages = sumImages;
    }

    protected ComputeDevice Device { get; }
    protected HeadsGeometry Geometry { get; }

    /// <summary>Images per block of the backward pass's weight-gradient sums.</summary>
    public int BlockImages { get; }

    /// <summary>Images per partial sum of the head batchnorm's statistics.</summary>
    public int SumImages { get; }

    public bool RunsOnHost => false;

    /// <summary>The latest forward's sizes.</summary>
    protected HeadDims Dims { get; private set; }

    /// <summary>The latest forward's aux layout.</summary>
    protected HeadAux Aux { get; private set; }

    protected HeadRowKernelSet<TView> Rows => Device.Kernels<HeadRowKernelSet<TView>>();

    public void Forward(DeviceTensor input, HeadsTensors weights, HeadNorm norm, bool training, DeviceTensor z)
    {
        var g = Geometry;
        int n = input.Shape.N;
        var d = new HeadDims(n, g.Heads, g.Channels, g.Height, g.Width);
        var ax = new HeadAux(n, d.Q, d.H, d.W);
        Dims = d;
        Aux = ax;
        _input = input;
        _z = z;
        _norm = norm;
        _forwardTraining = training;
        BeginForward();
        var oxy = StoresSoftmaxes ? Scratch(ref _oxy, Shape.Of(2, n, d.Q, d.H, d.W)) : null;
        var aux = Scratch(ref _aux, Shape.Of(ax.Length));
        var wp = Scratch(ref _wp, Shape.Of(g.Bias ? 4 : 2, d.Q, d.H, d.W));
        var k = Rows;
        int hasBias = g.Bias ? 1 : 0;
        k.PackWeights(d.WeightSize, wp.View, weights.Wx.View, weights.Wy.View, (weights.Bx ?? weights.Wx).View, (weights.By ?? weights.Wy).View,
            d.WeightSize, hasBias);
        if (n == 0)
            return;

        var sums = new PairSumDims(n, d.Q, d.W, 2, ax.ColR, SumImages);
        var cfg = NormConfig(n, sums.Blocks, training);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        ForwardSoftmaxes(oxy, aux, partial, input, wp, hasBias);
        if (cfg.Training != 0 && !ForwardWritesPartialSums)
        {
            Device.Work(null, 4L * (n * d.Q * d.W * 2 + partial.Length));
            k.PairPartialSums(d.Q * sums.Blocks, partial.View, aux.View, sums);
        }
        ForwardStatistics(aux, partial, norm, cfg);
        ForwardOutput(z, aux, input, oxy, wp, hasBias);
    }

    public void Backward(DeviceTensor gradOutput, HeadsTensors gradients, DeviceTensor? inputGradient, DeviceTensor? skipGradient)
    {
        if (_input is null || _aux is null || _wp is null || _z is null || (StoresSoftmaxes && _oxy is null))
            throw new InvalidOperationException("AttentionHeads.Backward called before Forward.");
        var d = Dims;
        var ax = Aux;
        int n = d.N;
        if (n == 0)
            return;

        var k = Rows;
        var input = _input;
        var oxy = StoresSoftmaxes ? _oxy : null;
        var aux = _aux;
        var sums = new PairSumDims(n, d.Q, 1, 2, ax.Images, SumImages);
        var cfg = NormConfig(n, sums.Blocks, _forwardTraining);
        var partial = Scratch(ref _partial, Shape.Of(d.Q, sums.Blocks, 2));
        BackwardSums(aux, partial, gradOutput, input, oxy, _wp, Geometry.Bias ? 1 : 0);
        if (cfg.Training != 0 && !BackwardWritesPartialSums)
        {
            Device.Work(null, 4L * (n * d.Q * 2 + partial.Length));
            k.PairPartialSums(d.Q * sums.Blocks, partial.View, aux.View, sums);
        }
        BackwardStatistics(aux, partial, cfg);
        // Reads R's row and column sums (2 each) and the coefficients (1 each), writes the coefficients.
        Device.Work(null, 4L * n * d.Q * (d.H + d.W) * 4);
        Coefficients(aux);

        bool bias = Geometry.Bias;
        var layout = new HeadBackwardLayout(n, d.C, d.H, BlockImages, bias, skipGradient is not null, inputGradient is not null);
        var pw = Scratch(ref _pw, Shape.Of(bias ? 4 : 2, layout.Blocks, d.Q, d.H, d.W));
        BackwardInput((inputGradient ?? gradOutput), pw, gradOutput, (skipGradient ?? input), input, oxy, _wp, aux, layout);
        WeightGradients(gradients, pw, layout.Blocks);
    }

    public virtual DeviceTensor? Softmaxes() => _oxy;

    public void Relevance(DeviceTensor relevance)
    {
        var oxy = Softmaxes() ?? throw new InvalidOperationException("AttentionHeads.Relevance called before Forward.");
        if (relevance.Length > 0)
            Rows.Relevance(Dims.N * Dims.Q * Dims.H, relevance.View, oxy.View, Dims);
    }

    public (float[] Mean, float[] InvStd) NormStatistics()
    {
        if (_aux is null)
            throw new InvalidOperationException("AttentionHeads.LastNormStatistics called before Forward.");
        var s = _aux.Download();
        int q = Geometry.Q;
        return (s[..q], s[q..(2 * q)]);
    }

    // ---- the steps a backend may replace ----

    /// <summary>Called at the start of each forward, once <see cref="Dims"/> and <see cref="Aux"/> are the batch's.</summary>
    protected virtual void BeginForward()
    {
    }

    /// <summary>Whether the forward stores Ox and Oy (the per-row kernels); when not, the steps recompute them and get
    /// null for oxy.</summary>
    protected virtual bool StoresSoftmaxes => true;

    /// <summary>Whether <see cref="ForwardSoftmaxes"/> writes the batchnorm's partial sums itself (one per image), so that
    /// no PairPartialSums launch is needed.</summary>
    protected virtual bool ForwardWritesPartialSums => false;

    /// <summary>The same for <see cref="BackwardSums"/>.</summary>
    protected virtual bool BackwardWritesPartialSums => false;

    /// <summary>Forward: Ox, Oy, the normalisers and the column sums of R.</summary>
    protected virtual void ForwardSoftmaxes(DeviceTensor? oxy, DeviceTensor aux, DeviceTensor partial, DeviceTensor input, DeviceTensor wp, int hasBias)
    {
        var (d, ax, k) = (Dims, Aux, Rows);
        int n = d.N;
        k.RowSoftmax(n * d.Q * d.H, oxy!.View, aux.View, input.View, wp.View, d, hasBias, ax);
        k.ImageFlags(n * d.Q, aux.View, d, ax);
        k.ColumnSoftmax(n * d.Q * d.W, oxy.View, aux.View, input.View, wp.View, d, hasBias, ax);
    }

    /// <summary>Forward: the head batchnorm's statistics (and running statistics) from the partial sums.</summary>
    protected virtual void ForwardStatistics(DeviceTensor aux, DeviceTensor partial, HeadNorm norm, HeadNormConfig cfg) =>
        Rows.HeadNormForwardStats(Dims.Q, aux.View, norm.RunningMean.View, norm.RunningVar.View, partial.View, cfg);

    /// <summary>Forward: Z and the row sums of R.</summary>
    protected virtual void ForwardOutput(DeviceTensor z, DeviceTensor aux, DeviceTensor input, DeviceTensor? oxy, DeviceTensor wp, int hasBias)
    {
        var d = Dims;
        Rows.HeadOutput(d.N * d.Q * d.H, z.View, aux.View, input.View, oxy!.View, d, Aux);
    }

    /// <summary>Backward pass 1: the rows', columns' and images' sums.</summary>
    protected virtual void BackwardSums(DeviceTensor aux, DeviceTensor partial, DeviceTensor gradOutput, DeviceTensor input, DeviceTensor? oxy,
        DeviceTensor wp, int hasBias)
    {
        var d = Dims;
        Rows.BackwardSums(d.N * d.Q, aux.View, gradOutput.View, input.View, oxy!.View, d, Aux);
    }

    /// <summary>Backward: each row's and column's A turned into the softmax coefficient s.</summary>
    protected virtual void Coefficients(DeviceTensor aux)
    {
        var d = Dims;
        Rows.SoftmaxCoefficients(d.N * d.Q * (d.H + d.W), aux.View, d, Aux);
    }

    /// <summary>Backward: the batchnorm coefficients from the partial sums.</summary>
    protected virtual void BackwardStatistics(DeviceTensor aux, DeviceTensor partial, HeadNormConfig cfg) =>
        Rows.HeadNormBackwardStats(Dims.Q, aux.View, partial.View, cfg);

    /// <summary>Backward pass 2: gX (into <paramref name="gx"/> when the layout asks for it) and the blocks' weight-gradient
    /// sums into <paramref name="pw"/>.</summary>
    protected virtual void BackwardInput(DeviceTensor gx, DeviceTensor pw, DeviceTensor gz, DeviceTensor gskip, DeviceTensor input, DeviceTensor? oxy,
        DeviceTensor wp, DeviceTensor aux, HeadBackwardLayout layout) =>
        Rows.BackwardInput(layout.Threads, gx.View, pw.View, gz.View, gskip.View, input.View, oxy!.View, wp.View, aux.View, Dims, Aux, layout);

    /// <summary>The blocks' sums added to the weight (and bias) gradients, in block order.</summary>
    protected virtual void WeightGradients(HeadsTensors g, DeviceTensor pw, int blocks) =>
        Rows.WeightGradients(Dims.WeightSize, g.Wx.View, g.Wy.View, (g.Bx ?? g.Wx).View, (g.By ?? g.Wy).View, pw.View, Dims.WeightSize, blocks,
            Geometry.Bias ? 1 : 0);

    private HeadNormConfig NormConfig(int n, int blocks, bool training) =>
        new(Geometry.Q, blocks, n * Geometry.Height * Geometry.Width, _norm.Momentum, _norm.Eps, training);

    protected DeviceTensor Scratch(ref DeviceTensor? slot, Shape shape) => _scratch.Get(ref slot, shape);

    /// <summary>The latest forward's input, packed weights and aux buffer (null before the first forward).</summary>
    protected (DeviceTensor? Input, DeviceTensor? Wp, DeviceTensor? Aux) ForwardState => (_input, _wp, _aux);

    public void Dispose()
    {
        _scratch.Dispose();
        _oxy = _wp = _aux = _partial = _pw = null;
        _input = _z = null;
    }
}

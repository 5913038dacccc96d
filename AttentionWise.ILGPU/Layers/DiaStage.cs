using AttentionWise.Host;
using AttentionWise.Kernels;

namespace AttentionWise.Layers;

/// <summary>
/// One backbone stage with a shared DIA unit (SPEC §3): for each of its modules (the stage's convolutions)
/// in turn, F = conv(x); s = mean of F over H, W; (h, c) = DiaLstm(s, (h, c)); x = ReLU(F ⊙ h). The state
/// (h, c) starts at zero for every image at the start of the stage and is carried from conv to conv. The
/// backward pass runs back through the chain of states (backpropagation through depth); the unit's
/// parameter gradients accumulate over every use. Every conv must output C = the unit's channels.
/// Children: the convs under their given names, then "dia" (<see cref="DiaUnit"/>). On the cpu device with a BLAS the
/// unit's dense layers are BLAS products (<see cref="HostLinear"/>) and the cell takes the gates they computed; elsewhere
/// the kernels compute the products themselves.
/// </summary>
public sealed unsafe class DiaStage : Module
{
    private readonly List<Module> _convs = new();
    private readonly DeviceTensor?[] _pooled, _aIh, _aHh, _act, _cell, _hidden, _out;
    private readonly DeviceTensor?[] _features;
    private DeviceTensor? _zeroH, _zeroC;
    private DeviceTensor? _ghScale, _gGates, _gzIh, _gzHh, _gs, _gf, _biasWorkspace;
    private readonly DeviceTensor?[] _gcPrev = new DeviceTensor?[2], _ghPrev = new DeviceTensor?[2];
    private int _batch = -1;

    public DiaStage(ComputeDevice device, int channels, IReadOnlyList<(string Name, Module Conv)> convs, int reduction = 4) : base(device)
    {
        ArgumentNullException.ThrowIfNull(convs);
        if (convs.Count == 0)
            throw new ArgumentException("A DIA stage needs at least one module.", nameof(convs));
        Channels = channels;
        foreach (var (name, conv) in convs)
            _convs.Add(AddModule(name, conv));
        Unit = AddModule("dia", new DiaUnit(device, channels, reduction));
        int t = convs.Count;
        _pooled = new DeviceTensor?[t];
        _aIh = new DeviceTensor?[t];
        _aHh = new DeviceTensor?[t];
        _act = new DeviceTensor?[t];
        _cell = new DeviceTensor?[t];
        _hidden = new DeviceTensor?[t];
        _out = new DeviceTensor?[t];
        _features = new DeviceTensor?[t];
    }

    /// <summary>Channels of every conv's output (the unit's C).</summary>
    public int Channels { get; }

    public DiaUnit Unit { get; }

    public IReadOnlyList<Module> Convs => _convs;

    /// <summary>The mask h of use t (after conv t) of the latest forward, [N, C].</summary>
    public DeviceTensor? Mask(int t) => _hidden[t];

    public override Shape OutputShape(Shape input)
    {
        var s = input;
        foreach (var conv in _convs)
        {
            s = conv.OutputShape(s);
            if (s.Rank != 4 || s.C != Channels)
                throw new ShapeMismatchException($"DiaStage: output of {conv.GetType().Name} (C = {Channels})", Shape.Of(s.N, Channels, s.H, s.W), s);
        }
        return s;
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        OutputShape(input.Shape);
        int n = input.Shape.N;
        int c = Channels, r = Unit.Hidden;
        var k = Device.Kernels<DiaKernelSet>();
        var state = Shape.Of(n, c);
        var zeroH = Scratch(ref _zeroH, state);
        var zeroC = Scratch(ref _zeroC, state);
        zeroH.Zero();
        zeroC.Zero();
        _batch = n;
        var x = input;
        DeviceTensor hPrev = zeroH, cPrev = zeroC;
        for (int t = 0; t < _convs.Count; t++)
        {
            var f = _convs[t].Forward(x);
            _features[t] = f;
            int plane = f.Shape.H * f.Shape.W;
            var s = Scratch(ref _pooled[t], state);
            var aIh = Scratch(ref _aIh[t], Shape.Of(n, r));
            var aHh = Scratch(ref _aHh[t], Shape.Of(n, r));
            var act = Scratch(ref _act[t], Shape.Of(n, 4 * c));
            var cNext = Scratch(ref _cell[t], state);
            var hNext = Scratch(ref _hidden[t], state);
            var output = Scratch(ref _out[t], f.Shape);
            if (n > 0)
            {
                var (hp, cp) = (hPrev, cPrev);
                LaunchTimer.Run("Dia.Pool", () => k.GlobalAveragePool(n * c, s.View, f.View, plane));
                if (HostPasses.On(Device))
                {
                    var u = Unit;
                    LaunchTimer.Run("Dia.Hidden", () =>
                    {
                        HostLinear.Forward(n, c, r, s.HostPointer, u.Ih1Weight.Value.HostPointer, u.Ih1Bias.Value.HostPointer, aIh.HostPointer);
                        HostLinear.Relu(aIh.HostPointer, aIh.Length);
                        HostLinear.Forward(n, c, r, hp.HostPointer, u.Hh1Weight.Value.HostPointer, u.Hh1Bias.Value.HostPointer, aHh.HostPointer);
                        HostLinear.Relu(aHh.HostPointer, aHh.Length);
                    });
                    LaunchTimer.Run("Dia.Cell", () =>
                    {
                        HostLinear.Forward(n, r, 4 * c, aIh.HostPointer, u.Ih2Weight.Value.HostPointer, u.Ih2Bias.Value.HostPointer, act.HostPointer);
                        HostLinear.Forward(n, r, 4 * c, aHh.HostPointer, u.Hh2Weight.Value.HostPointer, u.Hh2Bias.Value.HostPointer, act.HostPointer, accumulate: true);
                        k.CellFromGates(n * c, act.View, cNext.View, hNext.View, cp.View, c);
                    });
                }
                else
                {
                    LaunchTimer.Run("Dia.Hidden", () =>
                    {
                        k.DenseRelu(n * r, aIh.View, s.View, Unit.Ih1Weight.Value.View, Unit.Ih1Bias.Value.View, c, r);
                        k.DenseRelu(n * r, aHh.View, hp.View, Unit.Hh1Weight.Value.View, Unit.Hh1Bias.Value.View, c, r);
                    });
                    LaunchTimer.Run("Dia.Cell", () => k.Cell(n * c, act.View, cNext.View, hNext.View, cp.View, aIh.View, aHh.View,
                        Unit.Ih2Weight.Value.View, Unit.Ih2Bias.Value.View, Unit.Hh2Weight.Value.View, Unit.Hh2Bias.Value.View, c, r));
                }
                LaunchTimer.Run("Dia.ScaleRelu", () => k.ScaleRelu(n * c, output.View, f.View, hNext.View, plane));
            }
            hPrev = hNext;
            cPrev = cNext;
            x = output;
        }
        return x;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        int n = _batch;
        if (n < 0)
            throw new InvalidOperationException("DiaStage.Backward called before Forward.");
        int last = _convs.Count - 1;
        Shape.Require(_out[last]!.Shape, gradOutput.Shape, "DiaStage.Backward gradient");
        int c = Channels, r = Unit.Hidden;
        var k = Device.Kernels<DiaKernelSet>();
        var state = Shape.Of(n, c);
        var ghScale = Scratch(ref _ghScale, state);
        var gGates = Scratch(ref _gGates, Shape.Of(n, 4 * c));
        var gzIh = Scratch(ref _gzIh, Shape.Of(n, r));
        var gzHh = Scratch(ref _gzHh, Shape.Of(n, r));
        var gs = Scratch(ref _gs, state);
        DeviceTensor? ghCarry = null, gcCarry = null;
        DeviceTensor? g = gradOutput;
        for (int t = last; t >= 0; t--)
        {
            var f = _features[t]!;
            var output = _out[t]!;
            var h = _hidden[t]!;
            var hPrev = t > 0 ? _hidden[t - 1]! : _zeroH!;
            var cPrev = t > 0 ? _cell[t - 1]! : _zeroC!;
            int plane = f.Shape.H * f.Shape.W;
            var gcPrev = Scratch(ref _gcPrev[t & 1], state);
            var ghPrev = Scratch(ref _ghPrev[t & 1], state);
            var gf = Scratch(ref _gf, f.Shape);
            if (n > 0)
            {
                var (gOut, ghC, gcC) = (g!, ghCarry, gcCarry);
                var (aIh, aHh, act, cNext, s) = (_aIh[t]!, _aHh[t]!, _act[t]!, _cell[t]!, _pooled[t]!);
                bool wantPrev = t > 0;
                LaunchTimer.Run("Dia.ScaleReluBackward", () => k.ScaleReluBackwardMask(n * c, ghScale.View, gOut.View, output.View, f.View, plane));
                LaunchTimer.Run("Dia.CellBackward", () => k.CellBackward(n * c, gGates.View, gcPrev.View, ghScale.View, (ghC ?? ghScale).View,
                    (gcC ?? ghScale).View, act.View, cNext.View, cPrev.View, c, ghC is null ? 0 : 1));
                if (HostPasses.On(Device))
                    HostDenseBackward(n, c, r, wantPrev, gGates, gzIh, gzHh, gs, ghPrev, aIh, aHh, s, hPrev);
                else
                {
                    LaunchTimer.Run("Dia.DenseBackward", () =>
                    {
                        k.DenseBackwardHidden(n * r, gzIh.View, gGates.View, Unit.Ih2Weight.Value.View, aIh.View, r, 4 * c);
                        k.DenseBackwardHidden(n * r, gzHh.View, gGates.View, Unit.Hh2Weight.Value.View, aHh.View, r, 4 * c);
                        k.DenseBackwardInput(n * c, gs.View, gzIh.View, Unit.Ih1Weight.Value.View, c, r);
                        if (wantPrev)
                            k.DenseBackwardInput(n * c, ghPrev.View, gzHh.View, Unit.Hh1Weight.Value.View, c, r);
                    });
                    LaunchTimer.Run("Dia.WeightGradients", () =>
                    {
                        int second = DiaKernels.WeightGradientThreads(r, 4 * c), first = DiaKernels.WeightGradientThreads(c, r);
                        k.DenseWeightGradient(second, Unit.Ih2Weight.Gradient.View, Unit.Ih2Bias.Gradient.View, gGates.View, aIh.View, n, r, 4 * c);
                        k.DenseWeightGradient(second, Unit.Hh2Weight.Gradient.View, Unit.Hh2Bias.Gradient.View, gGates.View, aHh.View, n, r, 4 * c);
                        k.DenseWeightGradient(first, Unit.Ih1Weight.Gradient.View, Unit.Ih1Bias.Gradient.View, gzIh.View, s.View, n, c, r);
                        k.DenseWeightGradient(first, Unit.Hh1Weight.Gradient.View, Unit.Hh1Bias.Gradient.View, gzHh.View, hPrev.View, n, c, r);
                    });
                }
                LaunchTimer.Run("Dia.ScaleReluBackwardInput", () => k.ScaleReluBackwardInput(n * c, gf.View, gOut.View, output.View, h.View, gs.View, plane));
            }
            var conv = _convs[t];
            if (t == 0)
                conv.ComputeInputGradient = ComputeInputGradient;
            else
                conv.ComputeInputGradient = true;
            g = conv.Backward(gf);
            if (t > 0 && g is null)
                throw new InvalidOperationException($"DiaStage: module {t} ({conv.GetType().Name}) returned no input gradient.");
            ghCarry = ghPrev;
            gcCarry = gcPrev;
        }
        return g;
    }

    /// <summary>The dense layers' backward pass as BLAS products (the cpu device): the gradients of both branches' hidden
    /// pre-activations, of the pooled input and of the previous mask, and every weight and bias gradient.</summary>
    private void HostDenseBackward(int n, int c, int r, bool wantPrev, DeviceTensor gGates, DeviceTensor gzIh, DeviceTensor gzHh,
        DeviceTensor gs, DeviceTensor ghPrev, DeviceTensor aIh, DeviceTensor aHh, DeviceTensor s, DeviceTensor hPrev)
    {
        var u = Unit;
        var workspace = Scratch(ref _biasWorkspace, Shape.Of(1));
        LaunchTimer.Run("Dia.DenseBackward", () =>
        {
            HostLinear.InputGradient(n, r, 4 * c, gGates.HostPointer, u.Ih2Weight.Value.HostPointer, gzIh.HostPointer);
            HostLinear.ReluMask(gzIh.HostPointer, aIh.HostPointer, gzIh.Length);
            HostLinear.InputGradient(n, r, 4 * c, gGates.HostPointer, u.Hh2Weight.Value.HostPointer, gzHh.HostPointer);
            HostLinear.ReluMask(gzHh.HostPointer, aHh.HostPointer, gzHh.Length);
            HostLinear.InputGradient(n, c, r, gzIh.HostPointer, u.Ih1Weight.Value.HostPointer, gs.HostPointer);
            if (wantPrev)
                HostLinear.InputGradient(n, c, r, gzHh.HostPointer, u.Hh1Weight.Value.HostPointer, ghPrev.HostPointer);
        });
        LaunchTimer.Run("Dia.WeightGradients", () =>
        {
            HostLinear.WeightGradient(n, r, 4 * c, aIh.HostPointer, gGates.HostPointer, u.Ih2Weight.Gradient.HostPointer);
            HostLinear.WeightGradient(n, r, 4 * c, aHh.HostPointer, gGates.HostPointer, u.Hh2Weight.Gradient.HostPointer);
            HostLinear.WeightGradient(n, c, r, s.HostPointer, gzIh.HostPointer, u.Ih1Weight.Gradient.HostPointer);
            HostLinear.WeightGradient(n, c, r, hPrev.HostPointer, gzHh.HostPointer, u.Hh1Weight.Gradient.HostPointer);
            ChannelReductions.Sum(gGates, u.Ih2Bias.Gradient, accumulate: true, workspace);
            ChannelReductions.Sum(gGates, u.Hh2Bias.Gradient, accumulate: true, workspace);
            ChannelReductions.Sum(gzIh, u.Ih1Bias.Gradient, accumulate: true, workspace);
            ChannelReductions.Sum(gzHh, u.Hh1Bias.Gradient, accumulate: true, workspace);
        });
    }
}

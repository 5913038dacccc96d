using AttentionWise.Ops;

namespace AttentionWise.Layers;

/// <summary>
/// One backbone stage with a shared DIA unit (SPEC §3): for each of its modules (the stage's convolutions)
/// in turn, F = conv(x); s = mean of F over H, W; (h, c) = DiaLstm(s, (h, c)); x = ReLU(F ⊙ h). The state
/// (h, c) starts at zero for every image at the start of the stage and is carried from conv to conv. The
/// backward pass runs back through the chain of states (backpropagation through depth); the unit's
/// parameter gradients accumulate over every use. Every conv must output C = the unit's channels.
/// Children: the convs under their given names, then "dia" (<see cref="DiaUnit"/>). The unit's dense layers run through
/// the device's dense op and the cell takes the gates they computed.
/// </summary>
public sealed class DiaStage : Module
{
    private readonly List<Module> _convs = new();
    private readonly DeviceTensor?[] _pooled, _aIh, _aHh, _act, _cell, _hidden, _out;
    private readonly DeviceTensor?[] _features;
    private DeviceTensor? _zeroH, _zeroC;
    private DeviceTensor? _ghScale, _gGates, _gzIh, _gzHh, _gs, _gf;
    private readonly DenseWorkspace _workspace;
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
        _workspace = new DenseWorkspace(device);
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
        var (dense, cell, u) = (Device.Backend.Dense, Device.Backend.DiaCell, Unit);
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
                cell.Pool(f, s, plane);
                dense.Forward(s, u.Ih1Weight.Value, u.Ih1Bias.Value, aIh, DenseOutput.Relu, _workspace);
                dense.Forward(hPrev, u.Hh1Weight.Value, u.Hh1Bias.Value, aHh, DenseOutput.Relu, _workspace);
                dense.Forward(aIh, u.Ih2Weight.Value, u.Ih2Bias.Value, act, DenseOutput.Write, _workspace);
                dense.Forward(aHh, u.Hh2Weight.Value, u.Hh2Bias.Value, act, DenseOutput.Accumulate, _workspace);
                cell.Cell(act, cNext, hNext, cPrev);
                cell.ScaleRelu(output, f, hNext, plane);
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
        var (dense, cell, u) = (Device.Backend.Dense, Device.Backend.DiaCell, Unit);
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
                var (aIh, aHh, act, cNext, s) = (_aIh[t]!, _aHh[t]!, _act[t]!, _cell[t]!, _pooled[t]!);
                cell.ScaleReluBackwardMask(ghScale, g!, output, f, plane);
                cell.CellBackward(gGates, gcPrev, ghScale, ghCarry, gcCarry, act, cNext, cPrev);
                dense.InputGradient(gGates, u.Ih2Weight.Value, gzIh, reluOutput: aIh);
                dense.InputGradient(gGates, u.Hh2Weight.Value, gzHh, reluOutput: aHh);
                dense.InputGradient(gzIh, u.Ih1Weight.Value, gs);
                if (t > 0)
                    dense.InputGradient(gzHh, u.Hh1Weight.Value, ghPrev);
                dense.WeightGradient(aIh, gGates, u.Ih2Weight.Gradient, u.Ih2Bias.Gradient, _workspace);
                dense.WeightGradient(aHh, gGates, u.Hh2Weight.Gradient, u.Hh2Bias.Gradient, _workspace);
                dense.WeightGradient(s, gzIh, u.Ih1Weight.Gradient, u.Ih1Bias.Gradient, _workspace);
                dense.WeightGradient(hPrev, gzHh, u.Hh1Weight.Gradient, u.Hh1Bias.Gradient, _workspace);
                cell.ScaleReluBackwardInput(gf, g!, output, h, gs, plane);
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

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _workspace.Dispose();
        base.Dispose(disposing);
    }
}

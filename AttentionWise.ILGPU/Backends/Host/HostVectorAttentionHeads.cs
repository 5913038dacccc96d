using AttentionWise.Host;
using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>
/// The attention heads on the cpu device with its host passes on: the vectorised passes of <see cref="HostAttentionHeads"/>
/// at the backend's vector width, run through the loader (<see cref="KernelLoader.Pass"/>). The softmaxes are not stored;
/// they are written from the kept normalisers when asked for.
/// </summary>
internal sealed unsafe class HostVectorAttentionHeads : IAttentionHeads
{
    private readonly ComputeDevice _device;
    private readonly ScratchTensors _scratch;
    private readonly HeadsGeometry _geometry;
    private readonly HostAttentionHeads _host;
    private DeviceTensor? _state, _oxy;
    private int _n;
    private bool _haveForward, _oxyCurrent;

    public HostVectorAttentionHeads(ComputeDevice device, HeadsGeometry geometry, SimdWidth width)
    {
        _device = device;
        _scratch = new ScratchTensors(device);
        _geometry = geometry;
        _host = new HostAttentionHeads(geometry.Heads, geometry.Channels, geometry.Height, geometry.Width, geometry.Bias, width, HostLauncher.Shared);
    }

    public bool RunsOnHost => true;

    public void Forward(DeviceTensor input, HeadsTensors weights, HeadNorm norm, bool training, DeviceTensor z)
    {
        int n = input.Shape.N;
        _n = n;
        _oxyCurrent = false;
        var state = Scratch(ref _state, Shape.Of(checked((int)Math.Max(1, _host.StateFloats(n)))));
        bool bias = _geometry.Bias;
        _device.Loader.Pass("HostAttentionHeads.Forward", () => _host.Forward(n, input.HostPointer, weights.Wx.HostPointer, weights.Wy.HostPointer,
            bias ? weights.Bx!.HostPointer : null, bias ? weights.By!.HostPointer : null, z.HostPointer,
            norm.RunningMean.HostPointer, norm.RunningVar.HostPointer, training, norm.Momentum, norm.Eps, state.HostPointer));
        _haveForward = true;
    }

    public void Backward(DeviceTensor gradOutput, HeadsTensors gradients, DeviceTensor? inputGradient, DeviceTensor? skipGradient)
    {
        if (!_haveForward)
            throw new InvalidOperationException("AttentionHeads.Backward called before Forward.");
        if (_n == 0)
            return;
        bool bias = _geometry.Bias;
        _device.Loader.Pass("HostAttentionHeads.Backward", () => _host.Backward(gradOutput.HostPointer,
            inputGradient is null ? null : inputGradient.HostPointer, skipGradient is null ? null : skipGradient.HostPointer,
            gradients.Wx.HostPointer, gradients.Wy.HostPointer, bias ? gradients.Bx!.HostPointer : null, bias ? gradients.By!.HostPointer : null));
    }

    public DeviceTensor? Softmaxes()
    {
        if (!_haveForward)
            return null;
        if (!_oxyCurrent)
        {
            var g = _geometry;
            var oxy = Scratch(ref _oxy, Shape.Of(2, _n, g.Q, g.Height, g.Width));
            _device.Loader.Pass("HostAttentionHeads.Softmaxes", () => _host.Softmaxes(oxy.HostPointer));
            _oxyCurrent = true;
        }
        return _oxy;
    }

    public void Relevance(DeviceTensor relevance)
    {
        var oxy = Softmaxes() ?? throw new InvalidOperationException("AttentionHeads.Relevance called before Forward.");
        var g = _geometry;
        if (relevance.Length > 0)
            _device.Kernels<HeadRowKernelSet<HostView>>().Relevance(_n * g.Q * g.Height, relevance.View, oxy.View,
                new HeadDims(_n, g.Heads, g.Channels, g.Height, g.Width));
    }

    public (float[] Mean, float[] InvStd) NormStatistics() => (_host.Mean.ToArray(), _host.InvStd.ToArray());

    private DeviceTensor Scratch(ref DeviceTensor? slot, Shape shape) => _scratch.Get(ref slot, shape);

    public void Dispose()
    {
        _host.Dispose();
        _scratch.Dispose();
        _state = _oxy = null;
        _haveForward = false;
    }
}

using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>The DIA unit's passes as kernels (Kernels/DiaKernels.cs), one thread per (n, c); the same code for both
/// families, closed with each family's kernel view.</summary>
internal sealed class DiaCell<TView>(ComputeDevice device) : IDiaCell
    where TView : struct, IKernelView<TView>
{
    private DiaKernelSet<TView> K => device.Kernels<DiaKernelSet<TView>>();

    public void Pool(DeviceTensor f, DeviceTensor s, int plane) => K.GlobalAveragePool(s.Length, s.View, f.View, plane);

    public void Cell(DeviceTensor act, DeviceTensor cNext, DeviceTensor hNext, DeviceTensor cPrev) =>
        K.CellFromGates(cNext.Length, act.View, cNext.View, hNext.View, cPrev.View, cNext.Shape[1]);

    public void ScaleRelu(DeviceTensor output, DeviceTensor f, DeviceTensor h, int plane) => K.ScaleRelu(h.Length, output.View, f.View, h.View, plane);

    public void ScaleReluBackwardMask(DeviceTensor gh, DeviceTensor gOut, DeviceTensor output, DeviceTensor f, int plane) =>
        K.ScaleReluBackwardMask(gh.Length, gh.View, gOut.View, output.View, f.View, plane);

    public void CellBackward(DeviceTensor gGates, DeviceTensor gcPrev, DeviceTensor ghOut, DeviceTensor? ghCarry, DeviceTensor? gcCarry, DeviceTensor act,
        DeviceTensor cNext, DeviceTensor cPrev) =>
        K.CellBackward(gcPrev.Length, gGates.View, gcPrev.View, ghOut.View, (ghCarry ?? ghOut).View, (gcCarry ?? ghOut).View, act.View, cNext.View,
            cPrev.View, cNext.Shape[1], ghCarry is null ? 0 : 1);

    public void ScaleReluBackwardInput(DeviceTensor gf, DeviceTensor gOut, DeviceTensor output, DeviceTensor h, DeviceTensor gs, int plane) =>
        K.ScaleReluBackwardInput(h.Length, gf.View, gOut.View, output.View, h.View, gs.View, plane);
}
